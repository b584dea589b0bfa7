import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SmallMap } from "./small-map.js";

type Op = { op: "set"; key: string; value: number } | { op: "delete"; key: string } | { op: "clear" };

const key = fc.constantFrom("a", "b", "c", "d");
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("set" as const), key, value: fc.integer() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
);

describe("SmallMap", () => {
  it("behaves as a Map under any sequence of set, delete and clear", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const small = new SmallMap<string, number>();
        const map = new Map<string, number>();
        for (const step of ops) {
          if (step.op === "set") {
            small.set(step.key, step.value);
            map.set(step.key, step.value);
          } else if (step.op === "delete") {
            expect(small.delete(step.key)).toBe(map.delete(step.key));
          } else {
            small.clear();
            map.clear();
          }
          expect([...small.keys()].sort()).toEqual([...map.keys()].sort());
          for (const k of ["a", "b", "c", "d"]) {
            expect(small.has(k)).toBe(map.has(k));
            expect(small.get(k)).toBe(map.get(k));
          }
        }
      }),
    );
  });
});
