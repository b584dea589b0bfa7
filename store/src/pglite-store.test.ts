import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createPgliteStore } from "./pglite-store.js";
import { storeContract, testMessage } from "./store.contract.js";

storeContract("pglite", { create: () => createPgliteStore() });

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
    expect(await second.history({ room: "room", limit: 10 })).toEqual([message]);
    await second.close();
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}, 60_000);
