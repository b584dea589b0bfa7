/**
 * Error codes carried by `{"t":"error","code":...}` frames and by HTTP error bodies.
 * The list is part of wire protocol v1: codes are only ever added.
 */
export const ErrorCode = {
  /** The frame or query could not be decoded: not JSON, unknown `t`, missing or mistyped fields. */
  BadRequest: "bad_request",
  /** Credentials are missing, malformed, expired or not signed by a trusted key. */
  Unauthorized: "unauthorized",
  /**
   * The user may not do this: use another pair's direct-message room, or edit (or, without the admin role,
   * delete) someone else's message.
   */
  Forbidden: "forbidden",
  /** The action needs membership of the room first (`send`, `typing` before `join`). */
  NotJoined: "not_joined",
  /** The connection exceeded its message rate; the frame was dropped, retry later with the same `cid`. */
  RateLimited: "rate_limited",
  /** The body exceeds the maximum message size; the frame was dropped. */
  TooLarge: "too_large",
  /** A backend (Bus or Log) failed; nothing was acked, retry with the same `cid`. */
  Unavailable: "unavailable",
  /**
   * No such thing: over HTTP a path (under `/api/`, or not a page of the web client); in a frame the message an
   * `edit`, `delete`, `react` or `replyTo` names (no message has that seq in the room).
   */
  NotFound: "not_found",
  /** HTTP only: the path exists but not for this method; the `Allow` header lists the ones it takes. */
  MethodNotAllowed: "method_not_allowed",
  /** The message an `edit` or `react` names was deleted. */
  Gone: "gone",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes the gateway uses. 1000-1015 are RFC 6455; 4000-4999 are Parley's own.
 * Clients reconnect (with `since`) after every code except {@link CloseCode.PolicyViolation}.
 */
export const CloseCode = {
  /** Normal closure, e.g. the client asked for it. */
  Normal: 1000,
  /** A binary frame arrived: protocol v1 is text frames only. */
  UnsupportedData: 1003,
  /**
   * The connection kept sending frames the gateway refused (undecodable, or over the rate limit) well past its rate
   * limit. Do not reconnect blindly.
   */
  PolicyViolation: 1008,
  /** A frame exceeded the gateway's frame-size limit (`MAX_FRAME_BYTES`). */
  MessageTooBig: 1009,
  /** The gateway hit an unexpected error; reconnect with backoff. */
  InternalError: 1011,
  /** The gateway is draining for a restart or scale-down; reconnect (to another pod) with `since`. */
  ServiceRestart: 1012,
  /** The client did not read fast enough and the gateway's send buffer for it filled up; reconnect with `since`. */
  SlowConsumer: 4008,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
