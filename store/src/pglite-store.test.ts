import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { expect, it } from "vitest";
import { KyselyStore } from "./kysely-store.js";
import { PgliteDialect } from "./pglite-dialect.js";
import { createPgliteStore } from "./pglite-store.js";
import type { Database } from "./schema.js";
import { storeContract, testMessage } from "./store.contract.js";

// The store built as `createPgliteStore` builds it, keeping its Kysely instance to read the rows themselves.
let db: Kysely<Database> | undefined;
storeContract("pglite", {
  create: async () => {
    db = new Kysely<Database>({ dialect: new PgliteDialect(await PGlite.create()) });
    return new KyselyStore(db);
  },
  bodies: async (room) => {
    if (db === undefined) throw new Error("no store created yet");
    const rows = await db.selectFrom("messages").select("body").where("room", "=", room).orderBy("seq").execute();
    return rows.map((row) => row.body);
  },
});

it("keeps messages in its data directory across a reopen, creating the directory with its parents", async () => {
  const parent = await mkdtemp(join(tmpdir(), "parley-pglite-"));
  // The default PARLEY_DATA_DIR (.parley/data) is two levels that a fresh clone does not have.
  const dataDir = join(parent, "not-yet", "data");
  try {
    const first = await createPgliteStore({ dataDir });
    await first.migrate();
    const message = testMessage("room", 1);
    await first.insert([message]);
    await first.close();

    const second = await createPgliteStore({ dataDir });
    await second.migrate();
    expect(await second.events({ room: "room", after: 0, limit: 10 })).toEqual([message]);
    await second.close();
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}, 60_000);
