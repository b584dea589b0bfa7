import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import {
  checkObjectKey,
  type DownloadSpec,
  isObjectKey,
  type ObjectStore,
  servedAs,
  type UploadGrant,
  type UploadSpec,
} from "./object-store.js";

/** A request to one of the store's URLs, as the gateway's HTTP server hands it over. */
export interface ObjectRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-case header names. */
  readonly headers: ReadonlyMap<string, string>;
  /** The request body, read only once the request is known to be allowed. */
  readonly body: AsyncIterable<Uint8Array>;
}

export interface ObjectResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export interface FsObjectStoreOptions {
  /** The folder objects are kept in (created when missing). */
  readonly dir: string;
  /** The path the gateway serves this store's URLs under ({@link FsObjectStore.serve}), e.g. `/api/objects`. */
  readonly basePath: string;
  /** The key of the URLs' signatures: URLs signed with another one are refused (so it is shared by every gateway). */
  readonly secret: string;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Objects as files under one folder, for a single process (`npm start`): its URLs are paths on the gateway, signed
 * with HMAC-SHA256 and carrying their expiry, served by {@link FsObjectStore.serve}. An upload is written to a
 * temporary file and renamed into place once exactly the granted bytes arrived, so a partial one is never seen.
 */
export class FsObjectStore implements ObjectStore {
  readonly #objects: string;
  readonly #incoming: string;
  readonly #ready: Promise<unknown>;
  readonly #options: FsObjectStoreOptions;
  readonly #now: () => number;

  constructor(options: FsObjectStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#objects = join(options.dir, "objects");
    this.#incoming = join(options.dir, "incoming");
    this.#ready = Promise.all([mkdir(this.#objects, { recursive: true }), mkdir(this.#incoming, { recursive: true })]);
  }

  async grantUpload(key: string, { size, type }: UploadSpec, expiresInSeconds: number): Promise<UploadGrant> {
    checkObjectKey(key);
    const exp = String(this.#expiry(expiresInSeconds));
    const fields = { exp, size: String(size), type };
    return { url: this.#url("PUT", key, fields), method: "PUT", headers: { "content-type": type } };
  }

  async grantDownload(key: string, { name, type }: DownloadSpec, expiresInSeconds: number): Promise<string> {
    checkObjectKey(key);
    return this.#url("GET", key, { exp: String(this.#expiry(expiresInSeconds)), name, type });
  }

  /** Grants are paths on the gateway that serves the page. */
  async origin(): Promise<undefined> {
    return undefined;
  }

  async stat(key: string): Promise<{ readonly size: number } | undefined> {
    checkObjectKey(key);
    try {
      return { size: (await stat(join(this.#objects, key))).size };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    checkObjectKey(key);
    await rm(join(this.#objects, key), { force: true });
  }

  async close(): Promise<void> {}

  /** Answers a request to a URL this store granted: an upload (PUT) or a download (GET). */
  async serve(request: ObjectRequest): Promise<ObjectResponse> {
    const key = request.path.startsWith(`${this.#options.basePath}/`)
      ? request.path.slice(this.#options.basePath.length + 1)
      : "";
    if (!isObjectKey(key)) return refusal(404, "no such object");
    if (request.method === "PUT") return this.#receive(key, request);
    if (request.method === "GET") return this.#send(key, request.query);
    return refusal(405, "only PUT (upload) and GET (download)", { allow: "GET, PUT" });
  }

  async #receive(key: string, { query, headers, body }: ObjectRequest): Promise<ObjectResponse> {
    const fields = pick(query, ["exp", "size", "type"]);
    const denied = this.#check("PUT", key, fields, query.get("sig"));
    if (denied) return denied;
    const size = Number(fields.size);
    if (headers.get("content-type") !== fields.type) return refusal(403, `the grant is for type ${fields.type}`);
    const declared = headers.get("content-length");
    if (declared !== undefined && Number(declared) > size) return refusal(413, `the grant is for ${size} bytes`);
    await this.#ready;
    const incoming = join(this.#incoming, `${key}.${randomUUID()}`);
    let received = 0;
    try {
      await pipeline(
        body,
        async function* (chunks: AsyncIterable<Uint8Array>) {
          for await (const chunk of chunks) {
            received += chunk.byteLength;
            if (received > size) throw new TooLarge();
            yield chunk;
          }
        },
        createWriteStream(incoming),
      );
      if (received !== size) return refusal(400, `${received} bytes arrived, the grant is for ${size}`);
      await rename(incoming, join(this.#objects, key));
      return { status: 200 };
    } catch (error) {
      if (error instanceof TooLarge) return refusal(413, `the grant is for ${size} bytes`);
      throw error;
    } finally {
      await rm(incoming, { force: true });
    }
  }

  async #send(key: string, query: URLSearchParams): Promise<ObjectResponse> {
    const fields = pick(query, ["exp", "name", "type"]);
    const denied = this.#check("GET", key, fields, query.get("sig"));
    if (denied) return denied;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(this.#objects, key));
    } catch (error) {
      if (isMissing(error)) return refusal(404, "no such object");
      throw error;
    }
    const served = servedAs({ name: fields.name, type: fields.type });
    return {
      status: 200,
      headers: {
        "content-type": served.type,
        "content-disposition": served.disposition,
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, no-store",
      },
      body: bytes,
    };
  }

  /** A refusal when the signature does not match the fields, or the grant has expired. */
  #check(method: string, key: string, fields: Record<string, string>, sig: string | null): ObjectResponse | undefined {
    const expected = this.#sign(method, key, fields);
    const given = Buffer.from(sig ?? "", "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return refusal(403, "the URL's signature does not match");
    }
    if (Number(fields.exp) * 1000 < this.#now()) return refusal(403, "the URL has expired");
    return undefined;
  }

  #expiry(expiresInSeconds: number): number {
    return Math.floor(this.#now() / 1000) + expiresInSeconds;
  }

  #url(method: string, key: string, fields: Record<string, string>): string {
    const query = new URLSearchParams({ ...fields, sig: this.#sign(method, key, fields).toString("base64url") });
    return `${this.#options.basePath}/${key}?${query}`;
  }

  #sign(method: string, key: string, fields: Record<string, string>): Buffer {
    const message = JSON.stringify([method, key, ...Object.values(fields)]);
    return createHmac("sha256", this.#options.secret).update(message).digest();
  }
}

class TooLarge extends Error {}

/** The named query parameters, in the order given (the order they are signed in); missing ones are empty. */
function pick<K extends string>(query: URLSearchParams, names: readonly K[]): Record<K, string> {
  return Object.fromEntries(names.map((name) => [name, query.get(name) ?? ""])) as Record<K, string>;
}

function refusal(status: number, message: string, headers: Record<string, string> = {}): ObjectResponse {
  return { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers }, body: message };
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
