/** Where a message sits in the log: what the UI draws around it. */
export interface TimelineEntry<T> {
  readonly item: T;
  /** The first message of a local calendar day: a day divider goes above it. */
  readonly newDay: boolean;
  /** Same sender and day as the message before: drawn without the sender's name. */
  readonly grouped: boolean;
  /** Its time is shown: every ungrouped message, and a grouped one whose minute differs from the one before. */
  readonly timed: boolean;
}

/** Lays out a room's messages (oldest first) into day dividers, sender groups and visible times. */
export function timeline<T extends { readonly from: string; readonly ts: number }>(
  items: readonly T[],
): TimelineEntry<T>[] {
  let previous: { day: string; minute: number; from: string } | undefined;
  return items.map((item) => {
    const day = new Date(item.ts).toDateString();
    const minute = Math.floor(item.ts / 60_000);
    const newDay = day !== previous?.day;
    const grouped = !newDay && item.from === previous?.from;
    const timed = !grouped || minute !== previous?.minute;
    previous = { day, minute, from: item.from };
    return { item, newDay, grouped, timed };
  });
}
