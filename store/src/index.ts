export * from "./kysely-store.js";
export * from "./pglite-store.js";
export * from "./postgres-store.js";
export * from "./store.js";
