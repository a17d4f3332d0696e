// The drizzle-kit config `praxia-deploy generate NAME` runs with (it looks for
// drizzle.config.ts in the project root; [migrations] drizzle_config points
// elsewhere). The backend's repository has its own, beside its package.json.
// Here drizzle-kit comes from tests/interop (pinned, installed by scripts/test):
//   ln -s tests/interop/node_modules node_modules
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/index.ts",
  out: "./migrations",
});
