import { randomBytes } from "node:crypto";
import type { FsObjectStore, ObjectStore } from "@parley/files";
import {
  type Attachment,
  describeIssue,
  ErrorCode,
  fileIdSchema,
  fileNameSchema,
  isRoomName,
  mayAccess,
  mediaTypeSchema,
  parseJson,
} from "@parley/protocol";
import type { Logger } from "@parley/runtime";
import type { FileRecord, Store } from "@parley/store";
import { z } from "zod";
import type { Authenticator } from "./auth/auth.js";
import type { FileLimits } from "./config.js";
import { authenticateRequest, decodedSegment, errorResponse, jsonResponse, methodNotAllowed } from "./http-api.js";
import type { HttpRequest, HttpResponse } from "./server.js";

/** File sharing as a gateway runs it: where bytes go, where uploads are recorded, and the limits. */
export interface FileSharing {
  readonly objects: ObjectStore;
  readonly store: Pick<Store, "addFile" | "file" | "claimFiles" | "filesToSweep" | "forgetFiles">;
  readonly limits: FileLimits;
  /** The filesystem store, whose URLs are paths this gateway serves under {@link OBJECTS_PATH} (S3 serves its own). */
  readonly served?: FsObjectStore;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Where the filesystem store's signed URLs point. */
export const OBJECTS_PATH = "/api/objects";

const UPLOADS_PATH = /^\/api\/rooms\/([^/]+)\/files$/;
const FILE_PATH = /^\/api\/rooms\/([^/]+)\/files\/([^/]+)$/;
/** Largest JSON body `POST /api/rooms/{room}/files` takes. */
const MAX_REQUEST_BYTES = 4096;

const uploadRequestSchema = z.object({
  name: fileNameSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  type: mediaTypeSchema,
});

/**
 * `POST /api/rooms/{room}/files` (`{name, size, type}`) grants an upload: 201 `{id, upload: {url, method, headers},
 * expiresAt}`. `GET /api/rooms/{room}/files/{id}` grants a download: 200 `{url, expiresAt, name, size, type}`. Both
 * take the credentials and room rules of `join`; without file sharing both are 404. The filesystem store's own URLs
 * (`/api/objects/...`) are served here too.
 */
export async function filesRoute(
  request: HttpRequest,
  options: { readonly auth: Authenticator; readonly files: FileSharing | undefined },
): Promise<HttpResponse | undefined> {
  const { files } = options;
  if (files?.served && request.path.startsWith(`${OBJECTS_PATH}/`)) return files.served.serve(request);
  const upload = UPLOADS_PATH.exec(request.path);
  const download = upload ? null : FILE_PATH.exec(request.path);
  if (!upload && !download) return undefined;
  const method = upload ? "POST" : "GET";
  if (request.method !== method) return methodNotAllowed([method]);
  if (files === undefined) return errorResponse(404, ErrorCode.NotFound, "file sharing is off on this server");
  const authenticated = await authenticateRequest(options.auth, request);
  if ("refusal" in authenticated) return authenticated.refusal;
  const room = decodedSegment((upload ?? download)?.[1]);
  if (room === undefined || !isRoomName(room)) return errorResponse(400, ErrorCode.BadRequest, "invalid room name");
  if (!mayAccess(authenticated.user, room)) return errorResponse(403, ErrorCode.Forbidden, "not your direct room");
  if (upload) return grantUpload(files, room, authenticated.user, request);
  return grantDownload(files, room, authenticated.user, decodedSegment(download?.[2]));
}

async function grantUpload(files: FileSharing, room: string, user: string, request: HttpRequest) {
  const body = await readBody(request, MAX_REQUEST_BYTES);
  if (body === undefined) {
    return errorResponse(413, ErrorCode.TooLarge, `the request body is over ${MAX_REQUEST_BYTES} bytes`);
  }
  const json = parseJson(body);
  if (!json.ok) return errorResponse(400, ErrorCode.BadRequest, "the body is not valid JSON");
  const parsed = uploadRequestSchema.safeParse(json.value);
  if (!parsed.success) return errorResponse(400, ErrorCode.BadRequest, describeIssue(parsed.error, "body"));
  const { name, size, type } = parsed.data;
  const { limits } = files;
  if (size > limits.maxBytes) {
    return errorResponse(413, ErrorCode.TooLarge, `files may be at most ${limits.maxBytes} bytes`);
  }
  if (!typeAllowed(type, limits.types)) {
    return errorResponse(415, ErrorCode.BadRequest, `${type} files are not accepted here`);
  }
  const id = randomBytes(16).toString("base64url");
  const now = (files.now ?? Date.now)();
  await files.store.addFile({ id, room, uploader: user, name, size, type, createdAt: now });
  const grant = await files.objects.grantUpload(id, { size, type }, limits.urlSeconds);
  return jsonResponse(201, { id, upload: grant, expiresAt: now + limits.urlSeconds * 1000 });
}

/**
 * A file of the room, to anyone who may read the room once a message carries it (or a send claimed it), and to its
 * uploader before: 404 for a file of another room or one not sent yet, 410 once its message was deleted.
 */
async function grantDownload(files: FileSharing, room: string, user: string, id: string | undefined) {
  if (id === undefined || !fileIdSchema.safeParse(id).success) {
    return errorResponse(400, ErrorCode.BadRequest, "invalid file id");
  }
  const file = await files.store.file(id);
  if (file === undefined || file.room !== room || (file.claimedBy === undefined && file.uploader !== user)) {
    return errorResponse(404, ErrorCode.NotFound, `${room} has no file ${id}`);
  }
  if (file.deleted) return errorResponse(410, ErrorCode.Gone, `file ${id} was deleted with its message`);
  const { urlSeconds } = files.limits;
  const url = await files.objects.grantDownload(id, { name: file.name, type: file.type }, urlSeconds);
  const expiresAt = (files.now ?? Date.now)() + urlSeconds * 1000;
  return jsonResponse(200, { url, expiresAt, name: file.name, size: file.size, type: file.type });
}

export type Claim =
  | { readonly ok: true; readonly attachments: Attachment[] }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/**
 * Checks the files a `send` names and claims them for it: each must be the sender's upload to this room, uploaded
 * whole, not deleted, and claimed by no other send (the same `cid` again passes, so a retry does). The message carries
 * them as recorded, whatever name or size the client repeated.
 */
export async function claimAttachments(
  files: FileSharing | undefined,
  request: { room: string; user: string; cid: string; attachments: readonly Attachment[] },
): Promise<Claim> {
  const { room, user, cid, attachments } = request;
  if (files === undefined) return refused(ErrorCode.BadRequest, "file sharing is off on this server");
  if (attachments.length > files.limits.perMessage) {
    return refused(ErrorCode.BadRequest, `a message may carry at most ${files.limits.perMessage} files`);
  }
  const ids = attachments.map((attachment) => attachment.id);
  if (new Set(ids).size !== ids.length) return refused(ErrorCode.BadRequest, "a file is named twice");
  const stored = await Promise.all(ids.map((id) => files.objects.stat(id)));
  const records = new Map((await files.store.claimFiles(room, user, ids, cid)).map((file) => [file.id, file]));
  const claimed: Attachment[] = [];
  for (const [index, id] of ids.entries()) {
    const file: FileRecord | undefined = records.get(id);
    if (file === undefined || file.room !== room || file.uploader !== user) {
      return refused(ErrorCode.NotFound, `no upload ${id} of yours in ${room}`);
    }
    if (file.deleted) return refused(ErrorCode.Gone, `file ${id} was deleted`);
    if (file.claimedBy !== cid) return refused(ErrorCode.BadRequest, `file ${id} was sent with another message`);
    if (stored[index]?.size !== file.size) return refused(ErrorCode.BadRequest, `file ${id} is not uploaded yet`);
    claimed.push({ id, name: file.name, size: file.size, type: file.type });
  }
  return { ok: true, attachments: claimed };
}

function refused(code: ErrorCode, message: string): Claim {
  return { ok: false, code, message };
}

/** Whether `type` is one of `allowed` (`image/png`) or of a family there (`image/*`); an empty list allows any. */
export function typeAllowed(type: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const family = `${type.slice(0, type.indexOf("/"))}/*`;
  return allowed.some((entry) => entry === type || entry === family || entry === "*/*");
}

/** Files swept per round. */
const SWEEP_BATCH = 100;

/**
 * Deletes the bytes of uploads no message carries once `unattachedSeconds` passed, and of deleted messages' files,
 * then forgets them in the Store. Every gateway may run one: deleting an object twice is harmless.
 */
export class FileSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly files: FileSharing,
    private readonly logger: Logger,
  ) {}

  /** Sweeps every `intervalMs` (jittered) until {@link stop}. */
  start(intervalMs: number): void {
    const next = () => {
      this.#timer = setTimeout(
        () => {
          this.#running = this.sweep()
            .then(
              (swept) => {
                if (swept > 0) this.logger.info({ swept }, "deleted files no message carries");
              },
              (error: unknown) => this.logger.warn({ err: error }, "sweeping files failed; trying again later"),
            )
            .finally(() => {
              if (this.#timer !== undefined) next();
            });
        },
        intervalMs * (0.5 + Math.random()),
      );
      this.#timer.unref();
    };
    next();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One full sweep; resolves with how many files it deleted. */
  async sweep(): Promise<number> {
    const { store, objects, limits } = this.files;
    const cutoff = (this.files.now ?? Date.now)() - limits.unattachedSeconds * 1000;
    let swept = 0;
    for (;;) {
      const due = await store.filesToSweep(cutoff, SWEEP_BATCH);
      if (due.length === 0) return swept;
      await Promise.all(due.map((file) => objects.delete(file.id)));
      await store.forgetFiles(due.map((file) => file.id));
      swept += due.length;
      if (due.length < SWEEP_BATCH) return swept;
    }
  }
}

/** The body as text, or undefined when it is longer than `max` bytes (the rest is not read). */
async function readBody(request: HttpRequest, max: number): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of request.body) {
    length += chunk.byteLength;
    if (length > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
