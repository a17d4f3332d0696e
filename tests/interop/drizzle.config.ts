// drizzle-kit 0.31 config for the interop tests and scripts/snapshots, which
// run drizzle-kit on scratch copies of a migrations folder (the journal layout:
// meta/_journal.json, NNNN_tag.sql, meta/NNNN_snapshot.json):
//   cd tests/interop && DRIZZLE_OUT=<migrations folder> npx drizzle-kit generate
// Writing a new migration into ../../migrations is the authoring loop's job:
// that is generate.config.ts, which `praxia-deploy generate NAME` uses.
// Environment:
//   DRIZZLE_OUT     the migrations folder (required; the tests give a copy, so that
//                   no test run adds a migration to the repository's folder)
//   DRIZZLE_SCHEMA  schema file(s), comma-separated; default ../../schema/index.ts
//   DATABASE_URL    only for the commands that connect (migrate, push, pull, check against a db)
// Relative paths are relative to the current directory.
import Module from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "drizzle-kit";

const here = path.dirname(fileURLToPath(import.meta.url));

// The schema lives outside this package, in ../../schema, where no node_modules
// is: let its `import "drizzle-orm/pg-core"` find this package's drizzle-orm.
process.env.NODE_PATH = [path.join(here, "node_modules"), process.env.NODE_PATH]
  .filter(Boolean)
  .join(path.delimiter);
(Module as unknown as { _initPaths(): void })._initPaths();

if (!process.env.DRIZZLE_OUT) throw new Error("drizzle.config.ts: set DRIZZLE_OUT to the migrations folder");
// Relative to the current directory even when given absolute: drizzle-kit 0.31
// reads the snapshots as `./${out}/meta/...`, so an absolute `out` breaks there.
const out = path.relative(process.cwd(), path.resolve(process.env.DRIZZLE_OUT)) || ".";

export default defineConfig({
  dialect: "postgresql",
  schema: (process.env.DRIZZLE_SCHEMA || path.join(here, "../../schema/index.ts")).split(","),
  out,
  dbCredentials: { url: process.env.DATABASE_URL || "postgres://127.0.0.1:1/unset" },
});
