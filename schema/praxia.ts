// Praxia's own tables, exactly as migrations/0001_praxia_organizations.sql creates them.
//
// Every constraint and index is named explicitly, so that drizzle-kit 0.31 and
// 1.0 (whose default names differ) both see the names the shipped SQL uses.
// The checks are literal SQL, not sql`${table.role} IN ...`: 0.31 renders that
// as "profile"."role" (what 0001 has), 1.0 as "role", and 1.0 compares the text,
// so it would generate a drop and re-add of each check.
// Works unchanged with drizzle-orm 0.45 and 1.0.
import { sql } from "drizzle-orm";
import { check, foreignKey, index, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";
import { user } from "./auth";

export const organization = pgTable(
  "organization",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    slug: text("slug").notNull(),
    createdAt: timestamp("created_at").defaultNow().notNull(),
    updatedAt: timestamp("updated_at").defaultNow().notNull(),
  },
  (table) => [unique("organization_slug_unique").on(table.slug)],
);

export const profile = pgTable(
  "profile",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: text("user_id").notNull(),
    role: text("role").default("teacher").notNull(),
    organizationId: uuid("organization_id"),
    createdAt: timestamp("created_at").defaultNow().notNull(),
    updatedAt: timestamp("updated_at").defaultNow().notNull(),
  },
  (table) => [
    unique("profile_user_id_unique").on(table.userId),
    check(
      "profile_role_check",
      sql`"profile"."role" IN ('platform_admin', 'organization_admin', 'manager', 'coach', 'teacher')`,
    ),
    foreignKey({
      name: "profile_user_id_user_id_fk",
      columns: [table.userId],
      foreignColumns: [user.id],
    }).onDelete("cascade"),
    foreignKey({
      name: "profile_organization_id_organization_id_fk",
      columns: [table.organizationId],
      foreignColumns: [organization.id],
    }),
    index("profile_organization_id_idx").on(table.organizationId),
  ],
);

export const organizationUser = pgTable(
  "organization_user",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    organizationId: uuid("organization_id").notNull(),
    userId: text("user_id").notNull(),
    role: text("role").default("teacher").notNull(),
    createdAt: timestamp("created_at").defaultNow().notNull(),
  },
  (table) => [
    unique("organization_user_organization_id_user_id_unique").on(table.organizationId, table.userId),
    check(
      "organization_user_role_check",
      sql`"organization_user"."role" IN ('organization_admin', 'manager', 'coach', 'teacher')`,
    ),
    foreignKey({
      name: "organization_user_organization_id_organization_id_fk",
      columns: [table.organizationId],
      foreignColumns: [organization.id],
    }).onDelete("cascade"),
    foreignKey({
      name: "organization_user_user_id_user_id_fk",
      columns: [table.userId],
      foreignColumns: [user.id],
    }).onDelete("cascade"),
    index("organization_user_user_id_idx").on(table.userId),
  ],
);
