// Runs drizzle-orm's own migrator, exactly as the Praxia backend does:
//   node drizzle-migrate.mjs <database url> <migrations folder> [schema] [table]
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

const [url, migrationsFolder, migrationsSchema = "drizzle", migrationsTable = "__drizzle_migrations"] =
  process.argv.slice(2);
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  await migrate(drizzle(client), { migrationsFolder, migrationsSchema, migrationsTable });
} finally {
  await client.end();
}
