import { INLINE_MEDIA_TYPES } from "@parley/protocol";

/** What the uploader declared of a file: its size in bytes and media type. */
export interface UploadSpec {
  readonly size: number;
  readonly type: string;
}

/** A stored file as it is handed out: the name it is downloaded under, and its declared media type. */
export interface DownloadSpec {
  readonly name: string;
  readonly type: string;
}

/** A grant to upload one object: the client sends `method` to `url` with `headers` and exactly the granted bytes. */
export interface UploadGrant {
  /** Absolute (S3), or a path on the gateway that serves the store (the filesystem store). */
  readonly url: string;
  readonly method: "PUT";
  /** Headers the request must carry as they are (the content type is signed). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Where attachments' bytes live (the filesystem for one process, S3 in a cluster). The gateway never relays bytes
 * through this interface: it hands out expiring, signed URLs, and the client talks to them.
 *
 * Guarantees any implementation must give:
 * - An upload grant is for one key, the declared size and type, until it expires: a request with more or fewer
 *   bytes, another type, after the expiry or with a changed URL is refused and stores nothing; a completed upload
 *   replaces the object whole (never a partial one visible).
 * - A download grant is for one key until it expires, and serves the bytes with `Content-Disposition` naming the
 *   file and a content type that cannot run script ({@link servedAs}): an HTML file never renders as a page.
 * - `delete` is idempotent, and a deleted object is gone for `stat` and for every grant, earlier ones included.
 * - Keys are chosen by the caller, one per upload, and are {@link isObjectKey}: anything else is refused.
 */
export interface ObjectStore {
  grantUpload(key: string, spec: UploadSpec, expiresInSeconds: number): Promise<UploadGrant>;
  /** An absolute URL (S3), or a path on the gateway (the filesystem store). */
  grantDownload(key: string, spec: DownloadSpec, expiresInSeconds: number): Promise<string>;
  /**
   * The origin every grant's URL is on, when browsers reach it elsewhere than the page that asked (S3): the web
   * client's content policy must allow it for previews and uploads. Undefined when grants are paths (the gateway).
   */
  origin(): Promise<string | undefined>;
  /** The object's size, or undefined when it has not been uploaded (or was deleted). */
  stat(key: string): Promise<{ readonly size: number } | undefined>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

const OBJECT_KEY = /^[A-Za-z0-9_-]{1,128}$/;

/** Keys are plain names (letters, digits, `_` and `-`): safe as a file name and as an S3 key without escaping. */
export function isObjectKey(key: string): boolean {
  return OBJECT_KEY.test(key);
}

export function checkObjectKey(key: string): void {
  if (!isObjectKey(key)) throw new RangeError(`not an object key: ${JSON.stringify(key)}`);
}

/**
 * How a stored file is served: raster images inline with their own type (for previews), everything else as an
 * `application/octet-stream` attachment, so no browser renders it (HTML, SVG, scripts) as a page of our origin.
 */
export function servedAs({ name, type }: DownloadSpec): { readonly type: string; readonly disposition: string } {
  const inline = INLINE_MEDIA_TYPES.has(type);
  // The quoted filename is the ASCII fallback for old clients; filename* carries the real name (RFC 6266).
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return {
    type: inline ? type : "application/octet-stream",
    disposition: `${inline ? "inline" : "attachment"}; filename="${fallback}"; filename*=UTF-8''${encoded}`,
  };
}
