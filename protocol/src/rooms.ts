/** Room and user names: one leading alphanumeric, then up to 63 of `[A-Za-z0-9_.-]`. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DM_PATTERN = /^dm:([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/;

/** The two members of a direct-message room, or `undefined` when `room` is not a well-formed DM name. */
export function dmMembers(room: string): readonly [string, string] | undefined {
  const match = DM_PATTERN.exec(room);
  if (!match) return undefined;
  const [, a, b] = match as unknown as [string, string, string];
  // Sorted and distinct, so each pair of users has exactly one DM room.
  return a < b ? [a, b] : undefined;
}

/** Whether `room` is a valid room name: a plain name or a canonical `dm:<a>:<b>` with `a < b`. */
export function isRoomName(room: string): boolean {
  return NAME_PATTERN.test(room) || dmMembers(room) !== undefined;
}

/** The canonical direct-message room of two users. */
export function dmRoom(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** Whether `user` may read and write `room`: everyone for plain rooms, only its two members for a DM. */
export function mayAccess(user: string, room: string): boolean {
  const members = dmMembers(room);
  return members === undefined || members.includes(user);
}
