import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { ObjectStore, UploadGrant } from "./object-store.js";

/** A store under test, and how its URLs are reached (relative ones are paths on whatever serves the store). */
export interface ObjectStoreUnderTest {
  readonly store: ObjectStore;
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** Releases what serves the store's URLs; the store itself is closed by the suite. */
  close?(): Promise<void>;
}

export interface ObjectStoreFactory {
  /** A store whose clock is `now`, with no objects the other tests use. */
  create(now: () => number): Promise<ObjectStoreUnderTest>;
}

const HOUR = 3600;

/** The behaviour every {@link ObjectStore} must show; run it over each implementation. */
export function objectStoreContract(name: string, factory: ObjectStoreFactory): void {
  describe(`ObjectStore contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    /** Added to the clock the store signs with: negative, its grants are old. */
    let skew = 0;
    afterEach(() => {
      skew = 0;
    });

    async function open(): Promise<ObjectStoreUnderTest> {
      const underTest = await factory.create(() => Date.now() + skew);
      cleanups.push(async () => {
        await underTest.store.close();
        await underTest.close?.();
      });
      return underTest;
    }

    const key = () => randomUUID();
    const put = (at: ObjectStoreUnderTest, grant: UploadGrant, body: Uint8Array | string, headers = grant.headers) =>
      at.fetch(grant.url, { method: grant.method, headers, body });

    it("stores an upload of the granted size and type, and serves it back under its name", async () => {
      const at = await open();
      const { store } = at;
      const id = key();
      const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255]);
      const grant = await store.grantUpload(id, { size: bytes.length, type: "image/png" }, HOUR);
      expect(grant.method).toBe("PUT");
      expect(await store.stat(id)).toBeUndefined();
      const upload = await put(at, grant, bytes);
      expect(upload.status).toBe(200);
      expect(await store.stat(id)).toEqual({ size: bytes.length });

      const download = await at.fetch(
        await store.grantDownload(id, { name: "cat photo.png", type: "image/png" }, HOUR),
      );
      expect(download.status).toBe(200);
      expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
      // A raster image is shown inline, so the web client can preview it.
      expect(download.headers.get("content-type")).toBe("image/png");
      expect(download.headers.get("content-disposition")).toBe(
        `inline; filename="cat photo.png"; filename*=UTF-8''cat%20photo.png`,
      );
    });

    it("names the origin its grants are on, or none when they are paths", async () => {
      const { store } = await open();
      const origin = await store.origin();
      const upload = await store.grantUpload(key(), { size: 1, type: "text/plain" }, HOUR);
      const download = await store.grantDownload(key(), { name: "a.txt", type: "text/plain" }, HOUR);
      for (const url of [upload.url, download]) {
        if (origin === undefined) expect(url).toMatch(/^\/[^/]/);
        else expect(new URL(url).origin).toBe(origin);
      }
    });

    it("serves HTML, SVG and other types as attachments of no runnable type, under their names", async () => {
      const at = await open();
      const { store } = at;
      for (const [name, type, body] of [
        ["page.html", "text/html", "<script>alert(document.cookie)</script>"],
        ["drawing.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`],
        ['résumé "final".pdf', "application/pdf", "%PDF-1.7"],
      ] as const) {
        const id = key();
        const grant = await store.grantUpload(id, { size: Buffer.byteLength(body), type }, HOUR);
        expect((await put(at, grant, body)).status).toBe(200);
        const download = await at.fetch(await store.grantDownload(id, { name, type }, HOUR));
        expect(download.status).toBe(200);
        expect(download.headers.get("content-type")).toBe("application/octet-stream");
        expect(download.headers.get("content-disposition")).toMatch(
          /^attachment; filename="[^"]*"; filename\*=UTF-8''/,
        );
        expect(await download.text()).toBe(body);
      }
    });

    it("refuses an upload of more or fewer bytes, or of another type, than granted, storing nothing", async () => {
      const at = await open();
      const { store } = at;
      const id = key();
      const grant = await store.grantUpload(id, { size: 4, type: "text/plain" }, HOUR);
      for (const body of ["12345", "123"]) {
        const refused = await put(at, grant, body);
        expect(refused.status, `a body of ${body.length} bytes`).toBeGreaterThanOrEqual(400);
        expect(await store.stat(id)).toBeUndefined();
      }
      const otherType = await put(at, grant, "1234", { "content-type": "text/html" });
      expect(otherType.status).toBeGreaterThanOrEqual(400);
      expect(await store.stat(id)).toBeUndefined();
      // The grant itself still works.
      expect((await put(at, grant, "1234")).status).toBe(200);
    });

    it("refuses expired grants and grants changed to name another object", async () => {
      const at = await open();
      const { store } = at;
      const [id, other] = [key(), key()];
      skew = -2 * HOUR * 1000;
      const expiredUpload = await store.grantUpload(id, { size: 2, type: "text/plain" }, HOUR);
      skew = 0;
      expect((await put(at, expiredUpload, "hi")).status).toBe(403);
      expect(await store.stat(id)).toBeUndefined();

      const grant = await store.grantUpload(id, { size: 2, type: "text/plain" }, HOUR);
      expect((await put(at, { ...grant, url: grant.url.replace(id, other) }, "hi")).status).toBe(403);
      expect(await store.stat(other)).toBeUndefined();
      expect((await put(at, grant, "hi")).status).toBe(200);

      skew = -2 * HOUR * 1000;
      const expiredDownload = await store.grantDownload(id, { name: "a.txt", type: "text/plain" }, HOUR);
      skew = 0;
      expect((await at.fetch(expiredDownload)).status).toBe(403);
      const download = await store.grantDownload(id, { name: "a.txt", type: "text/plain" }, HOUR);
      expect((await at.fetch(download.replace(id, other))).status).toBe(403);
      expect((await at.fetch(download)).status).toBe(200);
    });

    it("deletes idempotently: the object is gone for stat and for grants made before", async () => {
      const at = await open();
      const { store } = at;
      const id = key();
      const grant = await store.grantUpload(id, { size: 3, type: "text/plain" }, HOUR);
      expect((await put(at, grant, "bye")).status).toBe(200);
      const download = await store.grantDownload(id, { name: "bye.txt", type: "text/plain" }, HOUR);
      await store.delete(id);
      await store.delete(id);
      expect(await store.stat(id)).toBeUndefined();
      expect((await at.fetch(download)).status).toBe(404);
    });

    it("refuses keys that are not plain names", async () => {
      const { store } = await open();
      for (const bad of ["../escape", "a/b", "", "x".repeat(129), "dot.ted"]) {
        await expect(store.grantUpload(bad, { size: 1, type: "text/plain" }, HOUR)).rejects.toThrow(RangeError);
        await expect(store.stat(bad)).rejects.toThrow(RangeError);
      }
    });
  });
}
