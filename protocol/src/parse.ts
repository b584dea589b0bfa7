import type { z } from "zod";

export type JsonResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

/** `JSON.parse` that reports failure instead of throwing, for untrusted input. */
export function parseJson(text: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The first issue of a failed parse as `path: message`, for error frames, HTTP bodies and dead-letter reasons. */
export function describeIssue(error: z.ZodError, subject: string): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || subject}: ${issue.message}` : `invalid ${subject}`;
}
