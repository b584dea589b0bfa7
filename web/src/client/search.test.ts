import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchContext, searchWords } from "./search.js";

describe("searchWords", () => {
  it("keeps the words to find, lower-cased, without exclusions or OR", () => {
    expect(searchWords('Hello "big World" -spam -"not this" cats or dogs OR mice')).toEqual([
      "hello",
      "big",
      "world",
      "cats",
      "dogs",
      "mice",
    ]);
    expect(searchWords("  ")).toEqual([]);
    expect(searchWords("e-mail, déjà-vu!")).toEqual(["e", "mail", "déjà", "vu"]);
  });
});

describe("matchContext", () => {
  const shown = (body: string, q: string, width?: number) =>
    matchContext(body, q, width)
      .map((segment) => (segment.match ? `[${segment.text}]` : segment.text))
      .join("");

  it("marks every whole-word match, case-insensitively, in a short body", () => {
    expect(shown("Deploy the plan; the PLAN is good, planning too", "plan")).toBe(
      "Deploy the [plan]; the [PLAN] is good, planning too",
    );
    expect(shown("nothing to see", "absent")).toBe("nothing to see");
  });

  it("centres a long body on the first match and cuts it at spaces with ellipses", () => {
    const body = `${"lorem ipsum ".repeat(20)}the secret word ${"dolor sit ".repeat(20)}`;
    const text = shown(body, "secret", 60);
    expect(text.startsWith("…")).toBe(true);
    expect(text.endsWith("…")).toBe(true);
    expect(text).toContain("[secret]");
    expect(text.length).toBeLessThanOrEqual(60 + 4);
  });

  it("shortens from the start when nothing matches", () => {
    expect(shown("a".repeat(50), "zzz", 10)).toBe(`${"a".repeat(10)}…`);
  });

  it("only ever shows text of the body, in order, and a match wherever it says so", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 30 }), (body, q) => {
        const segments = matchContext(body, q, 80);
        const text = segments.map((segment) => segment.text).join("");
        expect(body.includes(text.replace(/^…/, "").replace(/…$/, ""))).toBe(true);
        const words = new Set(
          q
            .split(/\s+/)
            .filter((chunk) => !chunk.startsWith("-"))
            .flatMap((chunk) => [...chunk.matchAll(/[\p{L}\p{N}]+/gu)].map(([word]) => word.toLowerCase())),
        );
        for (const segment of segments) if (segment.match) expect(words.has(segment.text.toLowerCase())).toBe(true);
      }),
    );
  });
});
