/**
 * The only module that touches uWebSockets.js: it adapts uWS's callback API to the small interfaces below so the
 * rest of the gateway (and its tests) never see a uWS object. uWS rules honoured here: request data is copied before
 * any await, aborted responses are never written, writes from outside uWS callbacks are corked, and a message's
 * ArrayBuffer is decoded before the handler returns.
 */

import uWS from "uWebSockets.js";
import { STATUS_CODES } from "node:http";
import { createRequire } from "node:module";
import { basename } from "node:path";
import { Readable } from "node:stream";

/**
 * The file name of the native uWebSockets.js binary this process loaded (one per platform, arch and Node ABI, e.g.
 * `uws_linux_x64_137.node`), for the start-up log: it tells which upstream build runs in an image.
 */
export function loadedUwsBinary(): string | undefined {
  const loaded = Object.keys(createRequire(import.meta.url).cache).find((path) => /[/\\]uws_[^/\\]+\.node$/.test(path));
  return loaded === undefined ? undefined : basename(loaded);
}

/** An HTTP request, copied out of uWS so it stays valid across awaits. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-case header names. */
  readonly headers: ReadonlyMap<string, string>;
  /**
   * The request body as it arrives, read at most once; empty without `content-length` or `transfer-encoding`. Unread
   * bytes are not buffered beyond a small window: the connection is paused until they are read.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponse>;

export type SendStatus = "sent" | "buffered" | "dropped";

/** One open WebSocket, as the gateway sees it. Calls after close are ignored. */
export interface Socket {
  /** Sends one text frame. Frames published to its topics before this call go out before it. */
  send(frame: string): SendStatus;
  /** From now on the socket receives what is published to `topic` (see {@link Topics}). */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Bytes queued for this socket and not yet written to the kernel. */
  bufferedAmount(): number;
  /** Closes with a close frame; `reason` must stay below 123 bytes. */
  close(code: number, reason: string): void;
}

/** Callbacks for one connection, created when it opens. */
export interface SocketSession {
  text(frame: string): void;
  binary(): void;
  /** A frame above `maxFrameBytes` arrived (and was discarded). */
  oversized(): void;
  /**
   * A frame published to one of its topics was not written: the socket's buffer was above `maxBackpressureBytes`.
   * Called once, on the first such frame, outside uWS's fan-out (so the session may close the socket).
   */
  dropped(): void;
  closed(code: number): void;
}

/**
 * Fan-out in uWS's C++: one frame handed over once and written to every subscribed socket, each socket's frames of
 * one event-loop turn coalesced into one write. Per topic, frames reach each subscriber in publish order.
 */
export interface Topics {
  /** Publishes one text frame to the topic's subscribers; answers how many sockets it was handed to. */
  publish(topic: string, frame: string): number;
}

export type UpgradeDecision<D> =
  | { readonly accept: true; readonly data: D }
  | { readonly accept: false; readonly response: HttpResponse };

export interface SocketHandler<D> {
  upgrade(request: HttpRequest): Promise<UpgradeDecision<D>>;
  open(socket: Socket, data: D): SocketSession;
}

export interface ServerOptions {
  readonly host: string;
  /** 0 picks a free port (see {@link Server.port}). */
  readonly port: number;
  /** Path of the WebSocket endpoint. */
  readonly wsPath: string;
  /**
   * Larger frames are handed to `oversized()` undecoded. uWS itself drops connections (without a close frame) whose
   * frames exceed {@link HARD_FRAME_LIMIT_FACTOR} times this.
   */
  readonly maxFrameBytes: number;
  /** Seconds without traffic before uWS closes a connection (it sends pings to keep healthy ones alive). */
  readonly idleTimeoutSeconds: number;
  /**
   * Bytes uWS may buffer per socket: a frame sent or published beyond it is dropped (a send answers "dropped", a
   * publish calls {@link SocketSession.dropped}).
   */
  readonly maxBackpressureBytes: number;
}

/** The uWS app before it listens: its topics exist from the start, so the gateway can be built around them. */
export interface Transport {
  readonly topics: Topics;
  /** Serves HTTP and WebSockets on `options.host`/`options.port`. */
  listen<D>(http: HttpHandler, sockets: SocketHandler<D>): Promise<Server>;
}

export interface Server {
  readonly port: number;
  /** Stops accepting connections; open ones stay. */
  stopListening(): void;
}

/** uWS buffers frames up to this multiple of `maxFrameBytes`, so moderately oversized ones get a proper answer. */
export const HARD_FRAME_LIMIT_FACTOR = 4;

/**
 * A WebSocket's user data. uWS copies the object given at the upgrade into one of its own (so this is a plain
 * object, not a class: methods would not be copied), and every field is there from the start: properties added to it
 * later would take a property array of their own, per connection.
 */
interface Connection<D> {
  readonly data: D;
  session: SocketSession | undefined;
  socket: UwsSocket<D> | undefined;
  /** Whether a dropped publish has been reported (uWS reports every dropped frame). */
  dropped: boolean;
}

/** A close frame: 2 bytes of header, the code and a reason of at most 123 bytes. */
const CLOSE_FRAME_BYTES = 127;

class UwsSocket<D> implements Socket {
  #open = true;
  /** A close whose frame waits for room in the socket's buffer. */
  #pendingClose: { readonly code: number; readonly reason: string } | undefined;

  constructor(
    readonly ws: uWS.WebSocket<Connection<D>>,
    private readonly maxBackpressureBytes: number,
  ) {}

  send(frame: string): SendStatus {
    if (!this.#open) return "dropped";
    let status = 2;
    this.ws.cork(() => {
      status = this.ws.send(frame, false, false);
    });
    return status === 1 ? "sent" : status === 0 ? "buffered" : "dropped";
  }

  subscribe(topic: string): void {
    if (this.#open) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (this.#open) this.ws.unsubscribe(topic);
  }

  bufferedAmount(): number {
    return this.#open ? this.ws.getBufferedAmount() : 0;
  }

  /**
   * uWS drops a close frame like any other beyond `maxBackpressureBytes`, and the client would see the connection
   * end without one (1006). So a socket whose buffer is that full stops getting its topics' frames at once and is
   * sent the close frame once the client has read enough to make room (or it idles out).
   */
  close(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#closeFrameFits()) {
      this.ws.end(code, reason);
      return;
    }
    for (const topic of this.ws.getTopics()) this.ws.unsubscribe(topic);
    this.#pendingClose = { code, reason };
  }

  /** uWS wrote some of the socket's buffer. */
  drained(): void {
    const pending = this.#pendingClose;
    if (pending && this.#closeFrameFits()) {
      this.#pendingClose = undefined;
      this.ws.end(pending.code, pending.reason);
    }
  }

  /** Whether uWS would take a close frame now rather than drop it. */
  #closeFrameFits(): boolean {
    return this.ws.getBufferedAmount() + CLOSE_FRAME_BYTES <= this.maxBackpressureBytes;
  }

  markClosed(): void {
    this.#open = false;
    this.#pendingClose = undefined;
  }
}

export function createTransport(options: ServerOptions): Transport {
  const app = uWS.App();
  return {
    topics: {
      publish: (topic, frame) => {
        const subscribers = app.numSubscribers(topic);
        if (subscribers > 0) app.publish(topic, frame, false, false);
        return subscribers;
      },
    },
    listen: (http, sockets) => listen(app, options, http, sockets),
  };
}

function listen<D>(
  app: uWS.TemplatedApp,
  options: ServerOptions,
  http: HttpHandler,
  sockets: SocketHandler<D>,
): Promise<Server> {
  const textDecoder = new TextDecoder("utf-8");

  app.ws<Connection<D>>(options.wsPath, {
    compression: uWS.DISABLED,
    maxPayloadLength: options.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR,
    idleTimeout: options.idleTimeoutSeconds,
    maxBackpressure: options.maxBackpressureBytes,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const request = copyRequest(req);
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      sockets.upgrade(request).then(
        (decision) => {
          if (aborted) return;
          // Not inside res.cork(): uWS's cork() can take the upgraded socket for the HTTP one and close it right after
          // `open` (uWebSockets#1929, not fixed in the build we run). A decision reached within this request's callback
          // (no I/O: dev auth, HS256, JWKS keys in cache) upgrades under the parser's cork; one that waited (a JWKS
          // fetch) upgrades uncorked, which uWS logs a warning for.
          if (decision.accept) {
            const connection: Connection<D> = {
              data: decision.data,
              session: undefined,
              socket: undefined,
              dropped: false,
            };
            res.upgrade(connection, key, protocol, extensions, context);
          } else {
            res.cork(() => writeResponse(res, decision.response));
          }
        },
        () => {
          if (!aborted) res.cork(() => writeResponse(res, { status: 500, body: "internal error" }));
        },
      );
    },
    open: (ws) => {
      const connection = ws.getUserData();
      connection.socket = new UwsSocket(ws, options.maxBackpressureBytes);
      connection.session = sockets.open(connection.socket, connection.data);
    },
    message: (ws, message, isBinary) => {
      const { session } = ws.getUserData();
      if (!session) return;
      if (message.byteLength > options.maxFrameBytes) return session.oversized();
      if (isBinary) return session.binary();
      // uWS has checked the UTF-8 of text frames: on invalid UTF-8 it drops the connection (the client sees 1006)
      // before this handler runs.
      session.text(textDecoder.decode(message));
    },
    dropped: (ws) => {
      const connection = ws.getUserData();
      if (connection.dropped) return;
      connection.dropped = true;
      // Called inside uWS's drain of the topic; closing the socket there would change what it iterates over.
      setImmediate(() => connection.session?.dropped());
    },
    drain: (ws) => {
      ws.getUserData().socket?.drained();
    },
    close: (ws, code) => {
      const connection = ws.getUserData();
      connection.socket?.markClosed();
      connection.session?.closed(code);
    },
  });

  app.any("/*", (res, req) => {
    const { request, body } = streamedRequest(req, res);
    const respond = (response: HttpResponse) => {
      if (body.aborted) return;
      // Once the rest of an unread body is discarded (or too much of it comes), so the client reads the answer.
      body.finish(() => res.cork(() => writeResponse(res, response, !body.complete)));
    };
    http(request).then(respond, () => respond({ status: 500, body: "internal error" }));
  });

  return new Promise((resolve, reject) => {
    app.listen(options.host, options.port, (token) => {
      if (!token) return reject(new Error(`cannot listen on ${options.host}:${options.port}`));
      resolve({
        port: uWS.us_socket_local_port(token),
        stopListening: () => uWS.us_listen_socket_close(token),
      });
    });
  });
}

function copyRequest(req: uWS.HttpRequest): HttpRequest {
  const headers = new Map<string, string>();
  req.forEach((key, value) => {
    headers.set(key, value);
  });
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ""),
    headers,
    body: Readable.from([]),
  };
}

/** Bytes of a request body read ahead of its reader; beyond them the connection is paused. */
const BODY_WINDOW_BYTES = 64 * 1024;
/**
 * Bytes of a body its handler did not read that are still taken in and dropped before the answer, so that a client
 * still sending (an upload refused early) reads it instead of a reset connection; beyond them the connection closes.
 */
const DISCARD_BYTES = 4 * 1024 * 1024;

/** An HTTP request with its body streamed from uWS (which must be asked for within the request's callback). */
function streamedRequest(req: uWS.HttpRequest, res: uWS.HttpResponse): { request: HttpRequest; body: BodyState } {
  const request = copyRequest(req);
  let stream: Readable | undefined;
  let answer: (() => void) | undefined;
  let discarded = 0;
  // uWS's resume() of a response that is not paused cuts its connection.
  let paused = false;
  const resume = () => {
    if (paused && !state.aborted) res.resume();
    paused = false;
  };
  const answerNow = () => {
    const write = answer;
    answer = undefined;
    write?.();
  };
  const state: BodyState = {
    aborted: false,
    complete: true,
    finish: (write) => {
      if (state.complete) return write();
      answer = write;
      stream?.destroy();
      resume();
    },
  };
  const hasBody = request.headers.has("transfer-encoding") || Number(request.headers.get("content-length") ?? 0) > 0;
  if (hasBody) {
    state.complete = false;
    stream = new Readable({
      highWaterMark: BODY_WINDOW_BYTES,
      read: resume,
    });
    const body = stream;
    res.onData((chunk, isLast) => {
      if (isLast) state.complete = true;
      if (answer !== undefined) {
        discarded += chunk.byteLength;
        if (isLast || discarded > DISCARD_BYTES) answerNow();
        return;
      }
      // uWS neuters the chunk once this returns: copy it.
      if (!body.push(Buffer.copyBytesFrom(new Uint8Array(chunk))) && !isLast) {
        paused = true;
        res.pause();
      }
      if (isLast) body.push(null);
    });
  }
  res.onAborted(() => {
    state.aborted = true;
    answer = undefined;
    stream?.destroy(new Error("the client went away"));
  });
  return { request: stream === undefined ? request : { ...request, body: stream }, body: state };
}

interface BodyState {
  aborted: boolean;
  /** The whole body arrived (or there was none): the connection can be kept for the next request. */
  complete: boolean;
  /** Calls `write` now, or once the rest of the body is discarded (or too much of it came). */
  finish(write: () => void): void;
}

/** Writes a whole response; `close` ends the connection after it (a body left unread cannot be skipped over). */
function writeResponse(res: uWS.HttpResponse, response: HttpResponse, close = false): void {
  res.writeStatus(`${response.status} ${STATUS_CODES[response.status] ?? ""}`);
  for (const [name, value] of Object.entries(response.headers ?? {})) res.writeHeader(name, value);
  res.end(response.body ?? "", close);
}
