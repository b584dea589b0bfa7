import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { GatewayProcess } from "@parley/testkit/gateway-process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The local SeaweedFS by name rather than address. */
const publicEndpoint = () => serviceEnv().s3.endpoint.replace("127.0.0.1", "localhost");
const WEB_DIR = fileURLToPath(new URL("../../web/dist", import.meta.url));

/** File sharing on the local SeaweedFS: the browser's path, straight to S3 with the gateway's pre-signed URLs. */
describe("file sharing on S3 (SeaweedFS)", () => {
  let dataDir: string;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "parley-files-s3-"));
    const s3 = serviceEnv().s3;
    gateway = await GatewayProcess.start({
      PARLEY_DATA_DIR: dataDir,
      PARLEY_WEB_DIR: WEB_DIR,
      PARLEY_FILES: "s3",
      PARLEY_S3_ENDPOINT: s3.endpoint,
      // What browsers reach may be another address than the gateways use: the URLs are signed for it.
      PARLEY_S3_PUBLIC_ENDPOINT: publicEndpoint(),
      PARLEY_S3_BUCKET: s3.bucket,
      PARLEY_S3_REGION: s3.region,
      PARLEY_S3_PREFIX: `${uniqueName("gateway")}/`,
      PARLEY_S3_ACCESS_KEY_ID: s3.accessKeyId,
      PARLEY_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      PARLEY_FILES_MAX_BYTES: "100000",
    });
  });
  afterAll(async () => {
    await gateway?.service.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("lets the web client it serves reach S3 for previews and uploads", async () => {
    const page = await gateway.fetch("/", { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    const origin = new URL(publicEndpoint()).origin;
    const policy = page.headers.get("content-security-policy") ?? "";
    expect(policy).toContain(`img-src 'self' data: ${origin};`);
    expect(policy).toContain(`connect-src 'self' ws: wss: ${origin};`);
  });

  it("uploads to S3, sends the file in a DM and lets only the other user of it fetch it", async () => {
    const room = "dm:ann:ben";
    const bytes = Buffer.from("%PDF-1.7 a small document");
    const asked = await gateway.fetch(`/api/rooms/${room}/files?user=ann`, {
      method: "POST",
      body: JSON.stringify({ name: "notes.pdf", size: bytes.length, type: "application/pdf" }),
    });
    expect(asked.status).toBe(201);
    const { id, upload } = (await asked.json()) as {
      id: string;
      upload: { url: string; headers: Record<string, string> };
    };
    expect(upload.url.startsWith(publicEndpoint())).toBe(true);
    // S3 itself refuses bytes other than those granted.
    expect(
      (await fetch(upload.url, { method: "PUT", headers: upload.headers, body: Buffer.concat([bytes, bytes]) })).ok,
    ).toBe(false);
    expect((await fetch(upload.url, { method: "PUT", headers: upload.headers, body: bytes })).status).toBe(200);

    const ann = await gateway.connect("ann");
    await ann.join(room);
    ann.send({
      t: "send",
      room,
      cid: "s1",
      body: "the notes",
      attachments: [{ id, name: "notes.pdf", size: bytes.length, type: "application/pdf" }],
    });
    await ann.next("ack", (frame) => frame.cid === "s1");

    expect((await gateway.fetch(`/api/rooms/${room}/files/${id}?user=carol`)).status).toBe(403);
    const granted = await gateway.fetch(`/api/rooms/${room}/files/${id}?user=ben`);
    expect(granted.status).toBe(200);
    const file = await fetch(((await granted.json()) as { url: string }).url);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("application/octet-stream");
    expect(file.headers.get("content-disposition")).toMatch(/^attachment; filename="notes.pdf"/);
    expect(Buffer.from(await file.arrayBuffer())).toEqual(bytes);

    // Deleting the message makes the file gone for everyone.
    ann.send({ t: "delete", room, seq: 1, cid: "d1" });
    await ann.next("ack", (frame) => frame.cid === "d1");
    await waitFor(
      async () => (await gateway.fetch(`/api/rooms/${room}/files/${id}?user=ben`)).status === 410,
      "the file gone once the deletion is stored",
    );
    ann.close();
  });
});
