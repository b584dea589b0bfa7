import { emojiSchema } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { emojiName, QUICK_REACTIONS, reactionLabel } from "./reactions.js";

describe("reactions", () => {
  it("offers only emoji the server accepts", () => {
    for (const { emoji } of QUICK_REACTIONS) expect(emojiSchema.safeParse(emoji).success, emoji).toBe(true);
  });

  it("names chips for screen readers: the emoji, the count, and whether one is ours", () => {
    expect(reactionLabel({ emoji: "👍", count: 1, mine: false })).toBe("thumbs up: 1 reaction");
    expect(reactionLabel({ emoji: "🎉", count: 3, mine: true })).toBe("party popper: 3 reactions, including yours");
    expect(emojiName(":ship_it:")).toBe("ship it");
    expect(emojiName("🦀")).toBe("🦀");
  });
});
