import { randomUUID } from "node:crypto";
import { type ChatMessage, chatMessageSchema, isRetriable, ParleyError } from "@parley/protocol";
import { uniqueName } from "@parley/testkit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "./store.js";

export interface StoreFactory {
  /** A store on a database no other test file uses; the suite migrates it. Tests keep apart by room name. */
  create(): Promise<Store>;
}

/** A valid message of `room` at `seq`, with fresh ids. */
export function testMessage(room: string, seq: number, overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    room,
    seq,
    id: randomUUID(),
    cid: randomUUID(),
    from: "alice",
    body: `message ${seq}`,
    ts: 1_700_000_000_000 + seq,
    ...overrides,
  };
}

/** The behaviour every {@link Store} must show; run it over each implementation. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await factory.create();
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
    });

    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
    const seqs = (messages: readonly ChatMessage[]) => messages.map((message) => message.seq);

    it("migrates again, also concurrently, as a no-op", async () => {
      await Promise.all([store.migrate(), store.migrate()]);
      const room = uniqueName("room");
      expect(await store.insert([testMessage(room, 1)])).toBe(1);
    });

    it("stores messages exactly and returns them in seq order", async () => {
      const room = uniqueName("room");
      const unusual = { body: "emoji 🎉, accents é, CJK 漢字, quotes '\"", ts: Number.MAX_SAFE_INTEGER };
      const messages = [testMessage(room, 3, unusual), testMessage(room, 1), testMessage(room, 2)];
      expect(await store.insert(messages)).toBe(3);
      const stored = await store.history({ room, limit: 10 });
      expect(stored).toEqual([...messages].sort((a, b) => a.seq - b.seq));
      expect(await store.history({ room: uniqueName("empty"), limit: 10 })).toEqual([]);
    });

    it("skips messages already stored under the same (room, seq) or id, without error", async () => {
      const room = uniqueName("room");
      const original = [testMessage(room, 1), testMessage(room, 2)];
      expect(await store.insert(original)).toBe(2);
      expect(await store.insert(original)).toBe(0);
      const sameSeq = testMessage(room, 1, { body: "another message claiming seq 1" });
      const sameId = testMessage(room, 3, { id: original[1]?.id ?? "" });
      const fresh = testMessage(room, 4);
      expect(await store.insert([sameSeq, sameId, fresh, fresh])).toBe(1);
      expect(await store.history({ room, limit: 10 })).toEqual([...original, fresh]);
    });

    it("pages history with before, after and limit", async () => {
      const room = uniqueName("room");
      await store.insert(range(1, 30).map((seq) => testMessage(room, seq)));
      expect(seqs(await store.history({ room, limit: 5 }))).toEqual(range(26, 30));
      expect(seqs(await store.history({ room, before: 10, limit: 5 }))).toEqual(range(5, 9));
      expect(seqs(await store.history({ room, before: 3, limit: 5 }))).toEqual([1, 2]);
      expect(seqs(await store.history({ room, after: 10, limit: 5 }))).toEqual(range(11, 15));
      expect(seqs(await store.history({ room, after: 28, limit: 5 }))).toEqual([29, 30]);
      expect(seqs(await store.history({ room, after: 10, before: 13, limit: 5 }))).toEqual([11, 12]);
      expect(await store.history({ room, limit: 0 })).toEqual([]);
    });

    it("inserts a batch beyond PostgreSQL's bind-parameter limit in one call", async () => {
      const room = uniqueName("room");
      const count = 20_000;
      expect(await store.insert(range(1, count).map((seq) => testMessage(room, seq)))).toBe(count);
      expect(seqs(await store.history({ room, after: 0, limit: count }))).toEqual(range(1, count));
    });

    it("rejects a batch holding data the database refuses with a non-retriable error, storing none of it", async () => {
      const room = uniqueName("room");
      // PostgreSQL text cannot hold NUL; rows after the first statement's chunk prove the whole call rolls back.
      const batch = range(1, 10_000).map((seq) => testMessage(room, seq));
      batch.push(testMessage(room, 10_001, { id: "nul\u0000id" }));
      const error = await store.insert(batch).then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(ParleyError);
      expect(isRetriable(error)).toBe(false);
      expect(await store.history({ room, limit: 10 })).toEqual([]);
    });

    it("keeps concurrent inserts apart: one failing does not undo another", async () => {
      const room = uniqueName("room");
      // Batches of more than one statement, so each runs as a transaction of its own.
      const big = 10_000;
      const good = range(1, big).map((seq) => testMessage(room, seq));
      const small = range(big + 1, big + 100).map((seq) => testMessage(room, seq));
      const bad = range(1, big).map((seq) => testMessage(uniqueName("room"), seq));
      bad.push(testMessage(room, big + 1_000, { id: "nul\u0000id" }));
      const results = await Promise.allSettled([store.insert(good), store.insert(bad), store.insert(small)]);
      expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const stored = await store.history({ room, after: 0, limit: 2 * big });
      expect(seqs(stored)).toEqual(range(1, big + 100));
    });

    it("keeps a watermark per room that only grows, saving many rooms at once", async () => {
      const rooms = [uniqueName("room"), uniqueName("room"), uniqueName("room")] as const;
      const [room, other, third] = rooms;
      const saved = () => Promise.all(rooms.map((name) => store.watermark(name)));
      expect(await saved()).toEqual([0, 0, 0]);
      await store.saveWatermarks(new Map([[room, 5]]));
      await store.saveWatermarks(
        new Map([
          [room, 3],
          [other, 7],
        ]),
      );
      expect(await saved()).toEqual([5, 7, 0]);
      await store.saveWatermarks(
        new Map([
          [room, 9],
          [other, 6],
          [third, 1],
        ]),
      );
      await store.saveWatermarks(new Map());
      expect(await saved()).toEqual([9, 7, 1]);
    });

    it("lists the rooms with a message stored above their saved watermark, or none saved", async () => {
      const [caughtUp, behind, unsaved] = [uniqueName("room"), uniqueName("room"), uniqueName("room")];
      await store.insert([testMessage(caughtUp, 1), testMessage(behind, 1), testMessage(behind, 3)]);
      await store.insert([testMessage(unsaved, 1)]);
      await store.saveWatermarks(
        new Map([
          [caughtUp, 1],
          [behind, 1],
        ]),
      );
      const listed = await store.roomsBehind();
      expect(listed).toContain(behind);
      expect(listed).not.toContain(caughtUp);
      expect(listed).toContain(unsaved);
      await store.saveWatermarks(new Map([[behind, 3]]));
      expect(await store.roomsBehind()).not.toContain(behind);
    });

    it("records lost ranges once and lists those ending above a seq", async () => {
      const room = uniqueName("room");
      const first = { from: 3, to: 3, reason: "never reached the log" };
      const second = { from: 10, to: 20, reason: "redis data loss" };
      await store.recordLost(room, second);
      await store.recordLost(room, first);
      await store.recordLost(room, first);
      expect(await store.lostRanges(room, 0)).toEqual([first, second]);
      expect(await store.lostRanges(room, 3)).toEqual([second]);
      expect(await store.lostRanges(room, 20)).toEqual([]);
    });

    it("round-trips any valid message exactly", async () => {
      const room = uniqueName("room");
      let seq = 0;
      const validMessage = fc
        .record({
          body: fc.string({ unit: "binary", minLength: 1, maxLength: 300 }),
          from: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/),
          cid: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
          ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        })
        .map((fields) => ({ ...fields, room, seq: ++seq, id: randomUUID() }))
        .filter((message) => chatMessageSchema.safeParse(message).success);
      await fc.assert(
        fc.asyncProperty(fc.array(validMessage, { minLength: 1, maxLength: 20 }), async (messages) => {
          expect(await store.insert(messages)).toBe(messages.length);
          const first = messages[0]?.seq ?? 0;
          const stored = await store.history({ room, after: first - 1, limit: messages.length });
          expect(stored).toEqual(messages);
        }),
        { numRuns: 50 },
      );
    });
  });
}
