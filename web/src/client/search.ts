/** A piece of a search hit's text: part of a match or not. */
export interface Segment {
  readonly text: string;
  readonly match: boolean;
}

/**
 * The words of a search to point out in its hits: every word of `q` except those it excludes (`-word`,
 * `-"a phrase"`) and the `OR` keyword. Words are runs of letters and digits, as the server's `simple` parser
 * splits them, lower-cased.
 */
export function searchWords(q: string): string[] {
  const words = new Set<string>();
  // Chunks: a quoted phrase (with its sign) or a run without spaces.
  for (const [chunk] of q.matchAll(/-?"[^"]*"?|\S+/g)) {
    if (chunk.startsWith("-") || chunk.toLowerCase() === "or") continue;
    for (const [word] of chunk.matchAll(/[\p{L}\p{N}]+/gu)) words.add(word.toLowerCase());
  }
  return [...words];
}

/**
 * The part of `body` around the first place a word of `q` occurs in it, at most about `width` characters, cut at
 * spaces where it can be, with `…` where it was cut, as segments that say which text matched. A body where no word
 * is found (a match the server made differently) is shortened from its start.
 */
export function matchContext(body: string, q: string, width = 120): Segment[] {
  const words = searchWords(q).sort((a, b) => b.length - a.length);
  const escaped = words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern =
    escaped.length === 0
      ? undefined
      : new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})(?![\\p{L}\\p{N}])`, "giu");
  const first = pattern === undefined ? undefined : new RegExp(pattern.source, "iu").exec(body);
  let start = 0;
  let end = Math.min(body.length, width);
  if (first !== undefined && first !== null && body.length > width) {
    const lead = Math.floor((width - first[0].length) / 3);
    start = Math.max(0, first.index - Math.max(lead, 0));
    end = Math.min(body.length, start + width);
    start = Math.max(0, Math.min(start, end - width));
  }
  // Cut at a space near each end, unless that would drop most of the window.
  if (start > 0) {
    const space = body.indexOf(" ", start);
    if (space !== -1 && space < start + 20 && (first == null || space < first.index)) start = space + 1;
  }
  if (end < body.length) {
    const space = body.lastIndexOf(" ", end);
    if (space !== -1 && space > end - 20 && space > start && (first == null || space > first.index + first[0].length))
      end = space;
  }
  const window = body.slice(start, end);
  const segments: Segment[] = [];
  const push = (text: string, match: boolean) => {
    if (text !== "") segments.push({ text, match });
  };
  if (start > 0) push("…", false);
  let at = 0;
  if (pattern !== undefined) {
    for (const found of window.matchAll(pattern)) {
      push(window.slice(at, found.index), false);
      push(found[0], true);
      at = found.index + found[0].length;
    }
  }
  push(window.slice(at), false);
  if (end < body.length) push("…", false);
  return mergePlain(segments);
}

/** Joins neighbouring plain segments (the ellipses with the text beside them). */
function mergePlain(segments: readonly Segment[]): Segment[] {
  const merged: Segment[] = [];
  for (const segment of segments) {
    const last = merged.at(-1);
    if (last !== undefined && !last.match && !segment.match)
      merged[merged.length - 1] = { text: last.text + segment.text, match: false };
    else merged.push(segment);
  }
  return merged;
}
