import { uniqueName, waitFor } from "@parley/testkit";
import { afterEach, describe, expect, it } from "vitest";
import type { BatchHandler, ConsumedRecord, Consumption, Log, LogRecord } from "./log.js";

/** A dead letter as a test reads it back, whatever the implementation stores. */
export interface ReadDeadLetter {
  readonly value: Buffer | null;
  readonly reason: string;
  /** Where the record sat on the source topic. */
  readonly partition: number;
  readonly offset: string;
}

/** A fresh log (its own topic) and a way to read what it dead-lettered. */
export interface LogUnderTest {
  readonly log: Log;
  deadLetters(): Promise<readonly ReadDeadLetter[]>;
  /** Releases what `deadLetters` opened; the log itself is closed by the suite. */
  close?(): Promise<void>;
}

export interface LogFactory {
  /** A log no other test uses, with at least two partitions. */
  create(): Promise<LogUnderTest>;
}

/** The behaviour every {@link Log} must show; run it over each implementation. */
export function logContract(name: string, factory: LogFactory): void {
  describe(`Log contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function open(): Promise<LogUnderTest> {
      const underTest = await factory.create();
      cleanups.push(async () => {
        await underTest.log.close();
        await underTest.close?.();
      });
      return underTest;
    }

    /** A consumer that records every delivery; `fail` decides which deliveries throw. */
    async function consumer(log: Log, group: string, fail: (attempt: number) => boolean = () => false) {
      const delivered: ConsumedRecord[] = [];
      const handled: ConsumedRecord[] = [];
      let attempts = 0;
      const handler: BatchHandler = async (records) => {
        delivered.push(...records);
        attempts++;
        if (fail(attempts)) throw new Error(`handler fails on attempt ${attempts}`);
        handled.push(...records);
      };
      const consumption: Consumption = await log.consume({ group, handler });
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        await consumption.close();
      };
      cleanups.push(close);
      return { delivered, handled, close, attempts: () => attempts };
    }

    function record(key: string, value: string, headers?: Record<string, string>): LogRecord {
      return headers === undefined ? { key, value: Buffer.from(value) } : { key, value: Buffer.from(value), headers };
    }

    const values = (records: readonly ConsumedRecord[]) => records.map((each) => each.value?.toString());

    it("delivers appended records with their key, value, headers and position", async () => {
      const { log } = await open();
      await log.append(record("room-a", "one", { trace: "t1" }));
      await log.append(record("room-b", "two"));
      await log.append(record("room-a", "three"));
      const { handled } = await consumer(log, uniqueName("group"));
      await waitFor(() => handled.length === 3, "three records");
      expect(handled.map(({ key, value, headers }) => ({ key, value: value?.toString(), headers }))).toEqual(
        expect.arrayContaining([
          { key: "room-a", value: "one", headers: { trace: "t1" } },
          { key: "room-b", value: "two", headers: {} },
          { key: "room-a", value: "three", headers: {} },
        ]),
      );
      const roomA = handled.filter((each) => each.key === "room-a");
      expect(values(roomA)).toEqual(["one", "three"]);
      expect(roomA[0]?.partition).toBe(roomA[1]?.partition);
      expect(BigInt(roomA[1]?.offset ?? -1)).toBeGreaterThan(BigInt(roomA[0]?.offset ?? -1));
    });

    it("keeps the append order of each key under concurrent appends", async () => {
      const { log } = await open();
      const keys = Array.from({ length: 6 }, (_, index) => `room-${index}`);
      const perKey = 50;
      await Promise.all(
        Array.from({ length: perKey }, (_, index) =>
          keys.map((key) => log.append(record(key, `${key}:${index}`))),
        ).flat(),
      );
      const { handled } = await consumer(log, uniqueName("group"));
      await waitFor(() => handled.length === keys.length * perKey, "every record");
      for (const key of keys) {
        const order = handled.filter((each) => each.key === key).map((each) => each.value?.toString());
        expect(order).toEqual(Array.from({ length: perKey }, (_, index) => `${key}:${index}`));
      }
    });

    it("redelivers a batch whose handler threw, then commits it once handled", async () => {
      const { log } = await open();
      const group = uniqueName("group");
      const sent = Array.from({ length: 20 }, (_, index) => `m${index}`);
      for (const value of sent) await log.append(record("room", value));
      const first = await consumer(log, group, (attempt) => attempt === 1);
      await waitFor(() => first.handled.length === sent.length, "every record handled");
      expect(values(first.handled)).toEqual(sent);
      const failedBatch = first.delivered.length - first.handled.length;
      expect(failedBatch).toBeGreaterThan(0);
      expect(values(first.delivered.slice(0, failedBatch))).toEqual(sent.slice(0, failedBatch));
      await first.close();

      // Everything handled was committed: a new member of the group gets only what comes after.
      await log.append(record("room", "after"));
      const second = await consumer(log, group);
      await waitFor(() => second.handled.length > 0, "the new record");
      expect(values(second.delivered)).toEqual(["after"]);
    });

    it("resumes a group after close and reopen from its committed offsets, losing and repeating nothing", async () => {
      const { log } = await open();
      const group = uniqueName("group");
      const keys = Array.from({ length: 8 }, (_, index) => `room-${index}`);
      const round = (name: string) => keys.map((key) => record(key, `${name}:${key}`));
      await Promise.all(round("old").map((each) => log.append(each)));
      const first = await consumer(log, group);
      await waitFor(() => first.handled.length === keys.length, "the first round");
      await first.close();

      // Each partition holding an old record also gets a new one after it, so a repeat would arrive first.
      await Promise.all(round("new").map((each) => log.append(each)));
      const second = await consumer(log, group);
      await waitFor(() => second.handled.length >= keys.length, "the second round");
      expect(values(second.delivered).sort()).toEqual(keys.map((key) => `new:${key}`).sort());
    });

    it("gives a batch left uncommitted by a closed consumer to the next member of the group", async () => {
      const { log } = await open();
      const group = uniqueName("group");
      const sent = ["a", "b", "c"];
      for (const value of sent) await log.append(record("room", value));
      const failing = await consumer(log, group, () => true);
      await waitFor(() => failing.attempts() > 0, "a failed delivery");
      await failing.close();
      expect(failing.handled).toEqual([]);

      const next = await consumer(log, group);
      await waitFor(() => next.handled.length === sent.length, "the uncommitted records");
      expect(values(next.handled)).toEqual(sent);
    });

    it("splits the partitions between two members of a group without duplicates", async () => {
      const { log } = await open();
      const group = uniqueName("group");
      const one = await consumer(log, group);
      const two = await consumer(log, group);
      const keys = Array.from({ length: 40 }, (_, index) => `room-${index}`);
      const sent = keys.flatMap((key) => [record(key, `${key}:0`), record(key, `${key}:1`)]);
      await Promise.all(sent.map((each) => log.append(each)));
      const total = () => one.delivered.length + two.delivered.length;
      await waitFor(() => total() === sent.length, "every record");
      expect(one.delivered.length).toBeGreaterThan(0);
      expect(two.delivered.length).toBeGreaterThan(0);
      const all = [...values(one.delivered), ...values(two.delivered)];
      expect(new Set(all).size).toBe(sent.length);
    });

    it("tells each member the keys it handles, again after a rebalance, and delivers them to it only", async () => {
      const { log } = await open();
      const group = uniqueName("group");
      const keys = Array.from({ length: 40 }, (_, index) => `room-${index}`);
      const members = [0, 1].map(() => {
        const member = { owns: undefined as ((key: string) => boolean) | undefined, delivered: [] as ConsumedRecord[] };
        return member;
      });
      const join = (member: (typeof members)[number]) =>
        log.consume({
          group,
          handler: async (records) => {
            member.delivered.push(...records);
          },
          onAssigned: (owns) => {
            member.owns = owns;
          },
        });
      const [first, second] = members;
      if (!first || !second) throw new Error("two members");
      const alone = await join(first);
      cleanups.push(() => alone.close());
      await waitFor(() => first.owns && keys.every((key) => first.owns?.(key)), "the first member handles every key");
      const joined = await join(second);
      cleanups.push(() => joined.close());
      // Settled: each key is handled by exactly one of the two, and both have some.
      const settled = () =>
        keys.every((key) => members.filter((member) => member.owns?.(key)).length === 1) &&
        members.every((member) => keys.some((key) => member.owns?.(key)));
      await waitFor(settled, "the keys split between the two members");
      await Promise.all(keys.map((key) => log.append(record(key, key))));
      await waitFor(
        () => first.delivered.length + second.delivered.length === keys.length,
        "every record delivered once",
      );
      for (const member of members) {
        for (const delivered of member.delivered) expect(member.owns?.(delivered.key ?? "")).toBe(true);
      }
    });

    it("dead-letters a record with its reason and origin", async () => {
      const underTest = await open();
      const { log } = underTest;
      await log.append(record("room", "not an envelope"));
      await log.append(record("room", "fine"));
      const handled: ConsumedRecord[] = [];
      const consumption = await log.consume({
        group: uniqueName("group"),
        handler: async (records) => {
          for (const each of records) {
            if (each.value?.toString() === "not an envelope") await log.deadLetter(each, "value is not valid JSON");
            else handled.push(each);
          }
        },
      });
      cleanups.push(() => consumption.close());
      await waitFor(() => handled.length === 1, "the good record");
      const [dead] = await waitFor(async () => {
        const letters = await underTest.deadLetters();
        return letters.length > 0 && letters;
      }, "the dead letter");
      expect(dead?.value?.toString()).toBe("not an envelope");
      expect(dead?.reason).toBe("value is not valid JSON");
      expect(dead?.partition).toBe(handled[0]?.partition);
      expect(BigInt(dead?.offset ?? -1)).toBeLessThan(BigInt(handled[0]?.offset ?? -1));
    });

    it("settles every append made before close", async () => {
      const { log } = await open();
      const appends = Array.from({ length: 100 }, (_, index) => log.append(record(`room-${index % 3}`, `${index}`)));
      await log.close();
      await expect(Promise.all(appends)).resolves.toBeDefined();
      await expect(log.append(record("room", "late"))).rejects.toThrow();
    });
  });
}
