import { describe, expect, it } from "vitest";
import { MessageFold } from "./fold.js";

describe("MessageFold", () => {
  it("keeps the latest edit by seq, whatever order the edits arrive in", () => {
    const fold = new MessageFold();
    fold.edit(7, "third", 3000, 1);
    fold.edit(5, "second", 2000, 2);
    fold.edit(7, "third", 3000, 3);
    expect(fold.state("first", "me")).toEqual({ body: "third", editedAt: 3000, deleted: false, reactions: [] });
  });

  it("lets a deletion win over every edit and hide the reactions, before or after them", () => {
    const early = new MessageFold();
    early.delete();
    early.edit(9, "too late", 9000, 2);
    early.react(10, "bob", "👍", true, 3);
    const late = new MessageFold();
    late.edit(9, "edited", 9000, 1);
    late.react(10, "bob", "👍", true, 2);
    late.delete();
    for (const fold of [early, late]) expect(fold.state("posted", "me")).toEqual({ deleted: true, reactions: [] });
  });

  it("counts each user once per emoji, by their latest reaction event", () => {
    const fold = new MessageFold();
    fold.react(4, "bob", "👍", true, 1);
    fold.react(4, "bob", "👍", true, 2); // the same event again
    fold.react(6, "bob", "👍", true, 3); // on again: still one
    fold.react(5, "carol", "👍", true, 4);
    fold.react(8, "carol", "👍", false, 5);
    fold.react(7, "carol", "👍", true, 6); // older than her "off": changes nothing
    fold.react(3, "me", "🎉", true, 7);
    fold.react(9, "bob", ":shipit:", true, 8);
    expect(fold.state("posted", "me").reactions).toEqual([
      { emoji: "🎉", count: 1, mine: true },
      { emoji: "👍", count: 1, mine: false },
      { emoji: ":shipit:", count: 1, mine: false },
    ]);
  });

  it("takes a history page as it stood, without counting again the events received before it was asked for", () => {
    const fold = new MessageFold();
    // Replayed before the message itself was loaded: the page reflects them.
    fold.react(30, "bob", "👍", true, 1);
    fold.react(31, "me", "👍", true, 2);
    fold.edit(32, "edited", 5000, 3);
    fold.snapshot(
      { body: "edited", editedAt: 5000, deleted: false, reactions: [{ emoji: "👍", count: 3, mine: true }] },
      3,
    );
    expect(fold.state(undefined, "me")).toEqual({
      body: "edited",
      editedAt: 5000,
      deleted: false,
      reactions: [{ emoji: "👍", count: 3, mine: true }],
    });
    // Live after the page: applied on top.
    fold.react(40, "dave", "👍", true, 4);
    fold.react(41, "me", "👍", false, 5);
    fold.react(42, "bob", "👍", false, 6);
    fold.edit(43, "again", 6000, 7);
    expect(fold.state(undefined, "me")).toEqual({
      body: "again",
      editedAt: 6000,
      deleted: false,
      reactions: [{ emoji: "👍", count: 2, mine: false }],
    });
  });

  it("corrects our own reaction exactly, whether or not the page already had it", () => {
    for (const pageHadIt of [true, false]) {
      const fold = new MessageFold();
      fold.react(10, "me", "❤️", true, 1);
      fold.snapshot(
        {
          body: "hi",
          deleted: false,
          reactions: [{ emoji: "❤️", count: pageHadIt ? 2 : 1, mine: pageHadIt }],
        },
        1,
      );
      expect(fold.state(undefined, "me").reactions).toEqual([{ emoji: "❤️", count: 2, mine: true }]);
    }
  });

  it("is a tombstone when known only from one, and when a page says it was deleted", () => {
    expect(new MessageFold().state(undefined, "me")).toEqual({ deleted: true, reactions: [] });
    const fold = new MessageFold();
    fold.edit(5, "edited", 5000, 1);
    fold.snapshot({ deleted: true, reactions: [] }, 0);
    expect(fold.state("posted", "me")).toEqual({ deleted: true, reactions: [] });
  });
});
