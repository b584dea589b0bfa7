import { z } from "zod";
import { bodySchema, chatMessageSchema, emojiSchema, roomSchema } from "./message.js";

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
  /** Absent once deleted. */
  body: bodySchema.optional(),
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
