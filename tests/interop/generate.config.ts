// The drizzle-kit config of this repository's authoring loop,
// `praxia-deploy generate NAME` in development: environments/development.toml
// points [migrations] drizzle_config here, where generate finds this folder's
// pinned drizzle-kit (node_modules/.bin, installed by scripts/test). The backend
// keeps its own drizzle.config.ts beside its package.json.
// Paths are relative to this folder, where generate runs drizzle-kit.
import Module from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "drizzle-kit";

const here = path.dirname(fileURLToPath(import.meta.url));

// The schema lives in ../../schema, where no node_modules is: let its
// `import "drizzle-orm/pg-core"` find this folder's drizzle-orm.
process.env.NODE_PATH = [path.join(here, "node_modules"), process.env.NODE_PATH]
  .filter(Boolean)
  .join(path.delimiter);
(Module as unknown as { _initPaths(): void })._initPaths();

export default defineConfig({
  dialect: "postgresql",
  schema: "../../schema/index.ts",
  out: "../../migrations",
});
