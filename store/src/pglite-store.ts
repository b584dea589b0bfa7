import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { KyselyStore } from "./kysely-store.js";
import { PgliteDialect } from "./pglite-dialect.js";
import type { Database } from "./schema.js";

export interface PgliteStoreOptions {
  /** Directory holding the database; created with its parents if missing. Without one the database lives in memory. */
  readonly dataDir?: string | undefined;
}

/** The Store on PGlite (PostgreSQL compiled to WebAssembly, in this process): the embedded default. */
export async function createPgliteStore({ dataDir }: PgliteStoreOptions = {}): Promise<KyselyStore> {
  // PGlite creates only the last folder of the path itself.
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir === undefined ? {} : { dataDir });
  return new KyselyStore(new Kysely<Database>({ dialect: new PgliteDialect(client) }));
}
