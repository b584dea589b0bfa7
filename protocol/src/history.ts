import { z } from "zod";
import { bodySchema, chatMessageSchema, emojiSchema, messageBodySchema, roomSchema, userSchema } from "./message.js";

/** The users who reacted to a message with one emoji. */
export const reactionCountSchema = z.object({
  emoji: emojiSchema,
  count: z.number().int().positive(),
  /** Whether the user who asked is one of them. */
  mine: z.boolean(),
});
export type ReactionCount = z.infer<typeof reactionCountSchema>;

/**
 * A message as the history API gives it: as it stands now, its latest edit applied (`body`, `editedAt`), or a
 * tombstone without a body once deleted, with its reactions (emoji with at least one user, in the order they were
 * first used). `reactions` may be missing when a gateway from before reactions answers.
 */
export const historyMessageSchema = chatMessageSchema.omit({ body: true }).extend({
  /** Absent once deleted (and so are its attachments). */
  body: messageBodySchema.optional(),
  /** When the latest edit was made (ms since the epoch), if it was edited. */
  editedAt: z.number().int().nonnegative().optional(),
  deleted: z.literal(true).optional(),
  reactions: z.array(reactionCountSchema).optional(),
});
export type HistoryMessage = z.infer<typeof historyMessageSchema>;

/**
 * One page of `GET /api/rooms/{room}/messages`, ascending. Seqs within a page need not be consecutive (edits,
 * deletions and reactions take seqs between the messages): the next older page is asked for with
 * `before` = `nextBefore`, absent on the last page.
 */
export const historyPageSchema = z.object({
  room: roomSchema,
  messages: z.array(historyMessageSchema),
  nextBefore: z.number().int().optional(),
});
export type HistoryPage = z.infer<typeof historyPageSchema>;

/** Longest `q` the search API takes, in UTF-16 code units. */
export const MAX_SEARCH_QUERY_LENGTH = 200;

/** The `q` of a search: some non-blank, well-formed text without NUL (as a body), of at most 200 UTF-16 units. */
export const searchQuerySchema = z
  .string()
  .refine((q) => q.trim() !== "", "q is empty")
  .refine((q) => q.length <= MAX_SEARCH_QUERY_LENGTH, `q is longer than ${MAX_SEARCH_QUERY_LENGTH} UTF-16 code units`)
  .refine((q) => !q.includes("\u0000") && q.isWellFormed(), "q must be well-formed text without NUL");

/** A message search found: as it stands now (its latest edit's body), never a deleted one. */
export const searchHitSchema = historyMessageSchema
  .omit({ deleted: true, reactions: true })
  .extend({ body: bodySchema });
export type SearchHit = z.infer<typeof searchHitSchema>;

/**
 * One page of `GET /api/search`, newest first. The next page is asked for with `before` = `nextBefore`, an opaque
 * cursor, absent on the last page.
 */
export const searchPageSchema = z.object({
  messages: z.array(searchHitSchema),
  nextBefore: z.string().min(1).optional(),
});
export type SearchPage = z.infer<typeof searchPageSchema>;

/** Unread counts stop here: a room with more unread messages says this many. */
export const MAX_UNREAD = 1000;

/**
 * A room or direct conversation of the user's inbox: the room's latest seq, how far the user has read it (0 if never),
 * how many messages of other users above that are unread (deleted ones not counted; at most {@link MAX_UNREAD}) and
 * its newest message as it stands now (absent while it has none).
 */
export const inboxEntrySchema = z.object({
  room: roomSchema,
  latest: z.number().int().nonnegative(),
  read: z.number().int().nonnegative(),
  unread: z.number().int().nonnegative(),
  last: historyMessageSchema.optional(),
});
export type InboxEntry = z.infer<typeof inboxEntrySchema>;

/**
 * `GET /api/inbox`: the rooms the user has joined and not left, and the direct rooms with a message to or from them,
 * by room name.
 */
export const inboxSchema = z.object({ rooms: z.array(inboxEntrySchema) });
export type Inbox = z.infer<typeof inboxSchema>;

/**
 * `GET /api/me`: who the credentials sign in as, and whether they are an admin (who may delete anyone's messages:
 * `PARLEY_JWT_ADMIN_ROLE`, or `admin=1` in development mode), so a client offers only what the server allows.
 */
export const meSchema = z.object({ user: userSchema, admin: z.boolean() });
export type Me = z.infer<typeof meSchema>;
