import { MemoryLog } from "@parley/log";
import { type ChatMessage, ENVELOPE_VERSION, encodeEnvelope, ParleyError } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPgliteStore, type KyselyStore, type Store } from "@parley/store";
import { testMessage } from "@parley/store/contract";
import { uniqueName, waitFor } from "@parley/testkit";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PersistedBatch, Persister, type PersisterMetrics, type PersisterOptions } from "./persister.js";

const logger = createLogger("persister-test", "silent");
/** Fast retries: the tests wait for outcomes, not for backoff. */
const retryBackoff = { initialMs: 1, maxMs: 20 };

function counters() {
  const counter = () => ({
    value: 0,
    inc(by = 1) {
      this.value += by;
    },
  });
  return {
    recordsConsumed: counter(),
    rowsInserted: counter(),
    deadLettered: counter(),
    retries: counter(),
  } satisfies PersisterMetrics;
}

/** A store that fails while `down` is set, as a database outage would, and otherwise passes through. */
function flakyStore(store: Store) {
  const state = { down: false, attempts: 0 };
  const flaky: Pick<Store, "insert"> = {
    insert: async (messages) => {
      state.attempts++;
      if (state.down) throw new Error("connect ECONNREFUSED");
      return store.insert(messages);
    },
  };
  return { flaky, state };
}

describe("Persister", () => {
  let store: KyselyStore;
  const running: Persister[] = [];
  beforeAll(async () => {
    store = await createPgliteStore();
    await store.migrate();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((persister) => persister.close()));
  });
  afterAll(async () => {
    await store?.close();
  });

  async function start(options: Partial<PersisterOptions> & Pick<PersisterOptions, "log">): Promise<Persister> {
    const persister = new Persister({ store, group: "persister", logger, retryBackoff, ...options });
    await persister.start();
    running.push(persister);
    return persister;
  }

  const append = (log: MemoryLog, message: ChatMessage) =>
    log.append({ key: message.room, value: encodeEnvelope(message) });
  const raw = (log: MemoryLog, room: string, value: string) => log.append({ key: room, value: Buffer.from(value) });
  const stored = (room: string) => store.events({ room, after: 0, limit: 10_000 });

  it("stores valid envelopes, dead-letters the rest with the reason, and keeps going past them", async () => {
    const log = new MemoryLog();
    const room = uniqueName("room");
    const metrics = counters();
    const persisted: PersistedBatch[] = [];
    await start({ log, metrics, onPersisted: (batch) => persisted.push(batch) });

    await append(log, testMessage(room, 1));
    await raw(log, room, "not json at all");
    await raw(log, room, JSON.stringify({ ...testMessage(room, 2), v: ENVELOPE_VERSION + 1 }));
    await log.append({ key: room, value: Buffer.alloc(0) });
    await append(log, testMessage(room, 2));
    await append(log, testMessage(room, 3));

    await waitFor(async () => (await stored(room)).length === 3, "three rows");
    await waitFor(() => log.deadLetters().length === 3, "three dead letters");
    expect(log.deadLetters().map(({ record, reason }) => [record.value?.toString(), reason])).toEqual([
      ["not json at all", "value is not valid JSON"],
      [expect.stringContaining(`"v":${ENVELOPE_VERSION + 1}`), expect.stringMatching(/^v: /)],
      ["", "value is not valid JSON"],
    ]);
    await waitFor(() => persisted.some((batch) => batch.get(room)?.includes(3)), "the persisted batch announcement");
    expect(metrics.recordsConsumed.value).toBe(6);
    expect(metrics.rowsInserted.value).toBe(3);
    expect(metrics.deadLettered.value).toBe(3);
  });

  it("stores a replayed message once", async () => {
    const log = new MemoryLog();
    const room = uniqueName("room");
    const message = testMessage(room, 1);
    const metrics = counters();
    await start({ log, metrics });
    for (let copy = 0; copy < 3; copy++) await append(log, message);
    await waitFor(() => metrics.recordsConsumed.value === 3, "the three copies");
    expect(await stored(room)).toEqual([message]);
    expect(metrics.rowsInserted.value).toBe(1);
  });

  it("waits out a store outage, retrying without committing or skipping, then stores everything in order", async () => {
    const log = new MemoryLog({ partitions: 1 });
    const room = uniqueName("room");
    const { flaky, state } = flakyStore(store);
    const metrics = counters();
    await start({ log, store: flaky, metrics });
    state.down = true;
    const messages = Array.from({ length: 50 }, (_, index) => testMessage(room, index + 1));
    for (const message of messages) await append(log, message);
    await waitFor(() => state.attempts > 5, "several failed attempts");
    expect(await stored(room)).toEqual([]);
    state.down = false;
    await waitFor(async () => (await stored(room)).length === messages.length, "every message after the outage");
    expect(await stored(room)).toEqual(messages);
    expect(metrics.retries.value).toBeGreaterThan(0);
  });

  it("abandons a batch it is retrying when closed, and the next persister of the group stores it", async () => {
    const log = new MemoryLog();
    const room = uniqueName("room");
    const { flaky, state } = flakyStore(store);
    state.down = true;
    const first = await start({ log, store: flaky });
    const messages = Array.from({ length: 20 }, (_, index) => testMessage(room, index + 1));
    for (const message of messages) await append(log, message);
    await waitFor(() => state.attempts > 2, "failed attempts");
    await first.close();

    await start({ log });
    await waitFor(async () => (await stored(room)).length === messages.length, "the abandoned batch to be stored");
    expect(await stored(room)).toEqual(messages);
  });

  it("dead-letters a message the store refuses and stores the rest of its batch", async () => {
    const log = new MemoryLog();
    const room = uniqueName("room");
    const refused = testMessage(room, 2);
    // Data the schema lets through but the database will never take (e.g. a constraint added later).
    const refusing: Pick<Store, "insert"> = {
      insert: async (messages) => {
        if (messages.some((message) => message.id === refused.id)) {
          throw new ParleyError("violates a constraint", { retriable: false });
        }
        return store.insert(messages);
      },
    };
    await start({ log, store: refusing });
    await append(log, testMessage(room, 1));
    await append(log, refused);
    await append(log, testMessage(room, 3));
    await waitFor(() => log.deadLetters().length === 1, "the refused message dead-lettered");
    expect(log.deadLetters()[0]?.reason).toMatch(/^refused by the store: /);
    expect((await stored(room)).map((message) => message.seq)).toEqual([1, 3]);
  });

  it("stops retrying a non-retriable store error only by dead-lettering, never by skipping silently", async () => {
    const log = new MemoryLog();
    const room = uniqueName("room");
    const refusing: Pick<Store, "insert"> = {
      insert: async () => {
        throw new ParleyError("refused", { retriable: false });
      },
    };
    await start({ log, store: refusing });
    await append(log, testMessage(room, 1));
    await append(log, testMessage(room, 2));
    await waitFor(() => log.deadLetters().length === 2, "both messages dead-lettered");
  });

  it("accounts for every record of any mix of envelopes and garbage: stored or dead-lettered, exactly once", async () => {
    const record = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ garbage: Buffer.from(bytes) })),
      fc.string({ maxLength: 64 }).map((text) => ({ garbage: Buffer.from(text) })),
      fc.constant({ envelope: true as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 30 }), async (records) => {
        const log = new MemoryLog();
        const room = uniqueName("room");
        const persister = await start({ log });
        let seq = 0;
        for (const each of records) {
          if ("garbage" in each) await log.append({ key: room, value: each.garbage });
          else await append(log, testMessage(room, ++seq));
        }
        const garbage = records.length - seq;
        await waitFor(
          async () => (await stored(room)).length === seq && log.deadLetters().length === garbage,
          "every record accounted for",
        );
        await persister.close();
        await log.close();
      }),
      { numRuns: 25 },
    );
  });
});
