import { waitFor } from "@parley/testkit";
import { describe, expect, it } from "vitest";
import { logContract } from "./log.contract.js";
import { MemoryLog } from "./memory-log.js";

logContract("memory", {
  create: async () => {
    const log = new MemoryLog();
    return {
      log,
      deadLetters: async () =>
        log.deadLetters().map(({ record, reason }) => ({
          value: record.value,
          reason,
          partition: record.partition,
          offset: record.offset,
        })),
    };
  },
});

describe("MemoryLog", () => {
  it("hands out at most maxBatchSize records per batch", async () => {
    const log = new MemoryLog({ partitions: 1, maxBatchSize: 3 });
    for (let index = 0; index < 7; index++) await log.append({ key: "room", value: Buffer.from(`${index}`) });
    const sizes: number[] = [];
    await log.consume({ group: "g", handler: async (records) => void sizes.push(records.length) });
    await waitFor(() => sizes.reduce((sum, size) => sum + size, 0) === 7, "seven records");
    expect(sizes).toEqual([3, 3, 1]);
    await log.close();
  });

  it("releases records every group has committed, so a later group starts at the oldest one held", async () => {
    const log = new MemoryLog({ partitions: 1 });
    const appended = 3_000;
    for (let index = 0; index < appended; index++) await log.append({ key: "room", value: Buffer.from(`${index}`) });
    let first = 0;
    await log.consume({
      group: "first",
      handler: async (records) => {
        first += records.length;
      },
    });
    await waitFor(() => first === appended, "the first group to read everything");

    const later: string[] = [];
    await log.consume({
      group: "later",
      handler: async (records) => void later.push(...records.map((each) => each.value?.toString() ?? "")),
    });
    await log.append({ key: "room", value: Buffer.from("new") });
    await waitFor(() => later.at(-1) === "new", "the later group to reach the new record");
    expect(later.length).toBeLessThan(appended);
    await log.close();
  });

  it("rejects invalid options", () => {
    expect(() => new MemoryLog({ partitions: 0 })).toThrow(RangeError);
    expect(() => new MemoryLog({ maxBatchSize: 1.5 })).toThrow(RangeError);
  });
});
