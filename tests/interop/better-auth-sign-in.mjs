// Signs in through the real Better Auth (drizzle adapter, email and password), as
// the Praxia backend does, with users that praxia-deploy wrote. Email verification
// is required, as a backend with `requireEmailVerification: true` requires it:
//   node better-auth-sign-in.mjs <database url> <email> <password> [<email> <password> ...]
// Prints one JSON line per attempt: {"email", "ok", "userId"?, "error"?}; exits 1
// when any attempt was refused.
import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { drizzle } from "drizzle-orm/node-postgres";
import { boolean, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import pg from "pg";

// Better Auth's tables as its CLI generates them for drizzle + PostgreSQL.
const user = pgTable("user", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  email: text("email").notNull().unique(),
  emailVerified: boolean("email_verified").default(false).notNull(),
  image: text("image"),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").defaultNow().notNull(),
});
const session = pgTable("session", {
  id: text("id").primaryKey(),
  expiresAt: timestamp("expires_at").notNull(),
  token: text("token").notNull().unique(),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").notNull(),
  ipAddress: text("ip_address"),
  userAgent: text("user_agent"),
  userId: text("user_id").notNull().references(() => user.id, { onDelete: "cascade" }),
});
const account = pgTable("account", {
  id: text("id").primaryKey(),
  accountId: text("account_id").notNull(),
  providerId: text("provider_id").notNull(),
  userId: text("user_id").notNull().references(() => user.id, { onDelete: "cascade" }),
  accessToken: text("access_token"),
  refreshToken: text("refresh_token"),
  idToken: text("id_token"),
  accessTokenExpiresAt: timestamp("access_token_expires_at"),
  refreshTokenExpiresAt: timestamp("refresh_token_expires_at"),
  scope: text("scope"),
  password: text("password"),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").notNull(),
});
const verification = pgTable("verification", {
  id: text("id").primaryKey(),
  identifier: text("identifier").notNull(),
  value: text("value").notNull(),
  expiresAt: timestamp("expires_at").notNull(),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").defaultNow().notNull(),
});

const [url, ...pairs] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url });
const auth = betterAuth({
  database: drizzleAdapter(drizzle(pool), { provider: "pg", schema: { user, session, account, verification } }),
  emailAndPassword: { enabled: true, requireEmailVerification: true },
  secret: "praxia-deploy-interop-test-secret-0123456789",
  baseURL: "http://127.0.0.1:5000",
  logger: { disabled: true },
  telemetry: { enabled: false },
});
let refused = 0;
for (let i = 0; i < pairs.length; i += 2) {
  const [email, password] = [pairs[i], pairs[i + 1]];
  try {
    const result = await auth.api.signInEmail({ body: { email, password } });
    const ok = Boolean(result?.token);
    if (!ok) refused += 1;
    console.log(JSON.stringify({ email, ok, userId: result?.user?.id }));
  } catch (error) {
    refused += 1;
    console.log(JSON.stringify({ email, ok: false, error: String(error?.body?.code ?? error?.message ?? error) }));
  }
}
await pool.end();
process.exitCode = refused > 0 ? 1 : 0;
