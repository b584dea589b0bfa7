import type { ReactionCount } from "@parley/protocol";

/** The reactions the message menu offers in one keystroke, with the names screen readers and tooltips use. */
export const QUICK_REACTIONS: readonly { readonly emoji: string; readonly name: string }[] = [
  { emoji: "👍", name: "thumbs up" },
  { emoji: "❤️", name: "heart" },
  { emoji: "😂", name: "tears of joy" },
  { emoji: "🎉", name: "party popper" },
  { emoji: "😮", name: "surprised" },
];

const NAMES = new Map(QUICK_REACTIONS.map(({ emoji, name }) => [emoji, name]));

/** What to call `emoji` in a label: its name when we know it, a shortcode's words, or the emoji itself. */
export function emojiName(emoji: string): string {
  const shortcode = /^:(.+):$/.exec(emoji)?.[1];
  return NAMES.get(emoji) ?? shortcode?.replaceAll("_", " ") ?? emoji;
}

/** A reaction chip's accessible name: the emoji, how many reacted, and whether we did. */
export function reactionLabel({ emoji, count, mine }: ReactionCount): string {
  const people = count === 1 ? "1 reaction" : `${count} reactions`;
  return `${emojiName(emoji)}: ${people}${mine ? ", including yours" : ""}`;
}
