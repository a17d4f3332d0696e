// The whole Praxia schema, as drizzle-kit's `schema` entry point.
export * from "./auth";
export * from "./praxia";
