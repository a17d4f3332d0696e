// Runs drizzle-orm 1.0's own migrator (the <YYYYMMDDHHMMSS>_<name>/migration.sql
// layout that `drizzle-kit up` and drizzle-kit 1.0's generate write):
//   node drizzle-migrate.mjs <database url> <migrations folder> [schema] [table]
// Mirrors ../drizzle-migrate.mjs, which runs drizzle-orm 0.45's.
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

const [url, migrationsFolder, migrationsSchema = "drizzle", migrationsTable = "__drizzle_migrations"] =
  process.argv.slice(2);
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  await migrate(drizzle({ client }), { migrationsFolder, migrationsSchema, migrationsTable });
} finally {
  await client.end();
}
