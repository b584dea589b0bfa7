import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  checkObjectKey,
  type DownloadSpec,
  type ObjectStore,
  servedAs,
  type UploadGrant,
  type UploadSpec,
} from "./object-store.js";

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  readonly region: string;
  /** An S3-compatible server's URL (SeaweedFS, MinIO, …); AWS's own endpoint when unset. */
  readonly endpoint?: string;
  /**
   * The endpoint browsers reach, when it is not `endpoint` (an ingress in front of an in-cluster server): the upload
   * and download URLs are signed for it. @default endpoint
   */
  readonly publicEndpoint?: string;
  /** Static credentials; unset, the SDK's default chain (environment, web identity, instance role) finds them. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Prefixed to every key, e.g. `attachments/`. @default "" */
  readonly prefix?: string;
  /** Bucket in the path, not the host name: what most S3-compatible servers need. @default true with an endpoint */
  readonly forcePathStyle?: boolean;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Objects in an S3 bucket, for the cluster: grants are pre-signed URLs (SigV4, query-string signed) the client uses
 * directly, so the gateways never carry file bytes. An upload URL signs the content length and type, so S3 refuses
 * any other size before storing anything; a download URL sets the response's content type and disposition.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  /** Signs the URLs handed to browsers: {@link #client} unless they reach S3 at another endpoint. */
  readonly #signer: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(options: S3ObjectStoreOptions) {
    const client = (endpoint: string | undefined) =>
      new S3Client({
        region: options.region,
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        // A checksum the SDK would add to a pre-signed PUT is one the browser cannot compute: only when S3 needs one.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      });
    this.#client = client(options.endpoint);
    this.#signer = options.publicEndpoint === undefined ? this.#client : client(options.publicEndpoint);
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "";
    this.#now = options.now ?? Date.now;
  }

  async grantUpload(key: string, { size, type }: UploadSpec, expiresInSeconds: number): Promise<UploadGrant> {
    const command = new PutObjectCommand({ ...this.#object(key), ContentLength: size, ContentType: type });
    const url = await getSignedUrl(this.#signer, command, {
      ...this.#expiry(expiresInSeconds),
      signableHeaders: new Set(["content-length", "content-type"]),
    });
    return { url, method: "PUT", headers: { "content-type": type } };
  }

  async grantDownload(key: string, spec: DownloadSpec, expiresInSeconds: number): Promise<string> {
    const served = servedAs(spec);
    const command = new GetObjectCommand({
      ...this.#object(key),
      ResponseContentType: served.type,
      ResponseContentDisposition: served.disposition,
      ResponseCacheControl: "private, no-store",
    });
    return getSignedUrl(this.#signer, command, this.#expiry(expiresInSeconds));
  }

  /** Read off a signed URL, so it is the host the SDK signs for (the bucket's own, unless path-style). */
  async origin(): Promise<string> {
    const url = await getSignedUrl(this.#signer, new GetObjectCommand(this.#object("origin")), { expiresIn: 1 });
    return new URL(url).origin;
  }

  async stat(key: string): Promise<{ readonly size: number } | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand(this.#object(key)));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand(this.#object(key)));
  }

  async close(): Promise<void> {
    this.#client.destroy();
    if (this.#signer !== this.#client) this.#signer.destroy();
  }

  #object(key: string): { Bucket: string; Key: string } {
    checkObjectKey(key);
    return { Bucket: this.#bucket, Key: `${this.#prefix}${key}` };
  }

  #expiry(expiresInSeconds: number): { expiresIn: number; signingDate: Date } {
    return { expiresIn: expiresInSeconds, signingDate: new Date(this.#now()) };
  }
}
