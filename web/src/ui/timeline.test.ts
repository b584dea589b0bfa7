import { describe, expect, it } from "vitest";
import { timeline } from "./timeline.js";

const at = (hours: number, minutes: number, seconds = 0) => new Date(2026, 11, 1, hours, minutes, seconds).getTime();

describe("timeline", () => {
  it("groups a sender's run within a day and times it wherever the minute changes", () => {
    const entries = timeline([
      { from: "ann", ts: at(9, 0, 5) },
      { from: "ann", ts: at(9, 0, 40) },
      { from: "ann", ts: at(9, 1, 2) },
      { from: "ben", ts: at(9, 1, 3) },
      { from: "ben", ts: at(9, 1, 30) },
    ]);
    expect(entries.map(({ newDay, grouped, timed }) => ({ newDay, grouped, timed }))).toEqual([
      { newDay: true, grouped: false, timed: true },
      { newDay: false, grouped: true, timed: false },
      { newDay: false, grouped: true, timed: true },
      { newDay: false, grouped: false, timed: true },
      { newDay: false, grouped: true, timed: false },
    ]);
  });

  it("starts a new group on a new day, even for the same sender and minute of the clock", () => {
    const entries = timeline([
      { from: "ann", ts: at(23, 59, 50) },
      { from: "ann", ts: at(24, 0, 10) },
    ]);
    expect(entries[1]).toMatchObject({ newDay: true, grouped: false, timed: true });
  });
});
