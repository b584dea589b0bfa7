import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { numberAfter, textAfter } from "./fields.js";

describe("numberAfter", () => {
  it("reads whole and fractional numbers after the key, NaN without one", () => {
    expect(numberAfter('{"seq":42,"x":1}', '"seq":')).toBe(42);
    expect(numberAfter('{"body":"1764600000000.125"}', '"body":"')).toBe(1764600000000.125);
    expect(numberAfter('{"body":"hi"}', '"body":"')).toBeNaN();
    expect(numberAfter('{"t":"msg"}', '"body":"')).toBeNaN();
  });

  it("starts looking at `from`", () => {
    expect(numberAfter('{"n":1,"n":2}', '"n":', 3)).toBe(2);
  });

  it("reads back every stamp as it was written, to within two units in the last place", () => {
    fc.assert(
      fc.property(fc.double({ min: 1, max: 1e14, noNaN: true }), (stamp) => {
        const error = Math.abs(numberAfter(`{"body":"${stamp}"}`, '"body":"') - stamp);
        expect(error).toBeLessThanOrEqual(2 * Number.EPSILON * stamp);
      }),
    );
  });
});

describe("textAfter", () => {
  it("returns a JSON string's raw content, escapes kept, and undefined when unterminated or missing", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(textAfter(JSON.stringify({ k: text, after: "x" }), '"k":"')).toBe(JSON.stringify(text).slice(1, -1));
      }),
    );
    expect(textAfter('{"k":"abc', '"k":"')).toBeUndefined();
    expect(textAfter('{"j":"abc"}', '"k":"')).toBeUndefined();
  });
});
