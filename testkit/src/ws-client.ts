import { type ClientFrame, decodeServerFrame, type ServerFrame } from "@parley/protocol";
import WebSocket from "ws";
import { waitFor } from "./index.js";

/** A protocol-speaking WebSocket client for tests: records every frame and close, and waits on them. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  /** Frames that did not decode as v1 server frames (a test failure in itself). */
  readonly undecodable: string[] = [];
  closeCode: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data, isBinary) => {
      const text = data.toString();
      const decoded = isBinary ? undefined : decodeServerFrame(text);
      if (decoded?.ok) this.frames.push(decoded.value);
      else this.undecodable.push(text);
    });
    socket.on("close", (code) => {
      this.closeCode = code;
    });
  }

  /** Opens a connection to `url` (e.g. `ws://127.0.0.1:port/ws?user=alice`). Rejects with the HTTP status if refused. */
  static connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      socket.once("open", () => resolve(new TestClient(socket)));
      socket.once("unexpected-response", (_request, response) => reject(new UpgradeRefused(response.statusCode ?? 0)));
      socket.once("error", reject);
    });
  }

  send(frame: ClientFrame | Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary });
  }

  /** Messages of a room received so far, in arrival order. */
  messages(room: string): Extract<ServerFrame, { t: "msg" }>[] {
    return this.frames.filter(
      (frame): frame is Extract<ServerFrame, { t: "msg" }> => frame.t === "msg" && frame.room === room,
    );
  }

  /** Waits for the first frame after `from` that matches, and returns it. */
  next<T extends ServerFrame["t"]>(
    type: T,
    match: (frame: Extract<ServerFrame, { t: T }>) => boolean = () => true,
    { from = 0, timeoutMs }: { from?: number; timeoutMs?: number } = {},
  ): Promise<Extract<ServerFrame, { t: T }>> {
    return waitFor(
      () =>
        this.frames
          .slice(from)
          .find(
            (frame): frame is Extract<ServerFrame, { t: T }> =>
              frame.t === type && match(frame as Extract<ServerFrame, { t: T }>),
          ),
      `a ${type} frame`,
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  }

  /** Sends `join` and waits for `joined`. */
  async join(room: string, since?: number): Promise<Extract<ServerFrame, { t: "joined" }>> {
    const from = this.frames.length;
    this.send({ t: "join", room, ...(since === undefined ? {} : { since }) });
    return this.next("joined", (frame) => frame.room === room, { from });
  }

  /**
   * Sends until acked, as a client must: after an error frame for the cid (e.g. `unavailable` while Kafka is slow
   * or down) it waits `retryMs` and sends again with the same cid. Returns the ack.
   */
  async sendUntilAcked(
    room: string,
    cid: string,
    body: string,
    { retryMs = 200, timeoutMs = 60_000 }: { retryMs?: number; timeoutMs?: number } = {},
  ): Promise<Extract<ServerFrame, { t: "ack" }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const from = this.frames.length;
      this.send({ t: "send", room, cid, body });
      const answer = await waitFor(
        () =>
          this.frames
            .slice(from)
            .find(
              (frame): frame is Extract<ServerFrame, { t: "ack" | "error" }> =>
                (frame.t === "ack" || frame.t === "error") && frame.cid === cid,
            ),
        `an answer to ${cid}`,
        { timeoutMs: Math.max(1, deadline - Date.now()) },
      );
      if (answer.t === "ack") return answer;
      if (Date.now() > deadline) throw new Error(`${cid} not acked: ${answer.code} ${answer.message}`);
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }

  closed(): Promise<number> {
    return waitFor(() => this.closeCode, "the connection to close");
  }

  close(): void {
    this.socket.close();
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}
