// Better Auth's own password verification on a stored hash:
//   node verify-password.mjs <hash> <password>   -> prints true or false
import { verifyPassword } from "better-auth/crypto";

const [hash, password] = process.argv.slice(2);
console.log(String(await verifyPassword({ hash, password })));
