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
  /** Sends one text frame. */
  send(frame: string): SendStatus;
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
  closed(code: number): void;
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
  /** Bytes uWS may buffer per socket before it drops sends; keep it above the gateway's own slow-consumer limit. */
  readonly maxBackpressureBytes: number;
}

export interface Server {
  readonly port: number;
  /** Stops accepting connections; open ones stay. */
  stopListening(): void;
}

/** uWS buffers frames up to this multiple of `maxFrameBytes`, so moderately oversized ones get a proper answer. */
export const HARD_FRAME_LIMIT_FACTOR = 4;

interface Connection<D> {
  readonly data: D;
  session?: SocketSession;
  socket?: UwsSocket<D>;
}

class UwsSocket<D> implements Socket {
  #open = true;
  constructor(readonly ws: uWS.WebSocket<Connection<D>>) {}

  send(frame: string): SendStatus {
    if (!this.#open) return "dropped";
    let status = 2;
    this.ws.cork(() => {
      status = this.ws.send(frame, false, false);
    });
    return status === 1 ? "sent" : status === 0 ? "buffered" : "dropped";
  }

  bufferedAmount(): number {
    return this.#open ? this.ws.getBufferedAmount() : 0;
  }

  close(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.ws.end(code, reason);
  }

  markClosed(): void {
    this.#open = false;
  }
}

export function startServer<D>(options: ServerOptions, http: HttpHandler, sockets: SocketHandler<D>): Promise<Server> {
  const app = uWS.App();
  const textDecoder = new TextDecoder("utf-8", { fatal: true });

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
          res.cork(() => {
            if (decision.accept)
              res.upgrade<Connection<D>>({ data: decision.data }, key, protocol, extensions, context);
            else writeResponse(res, decision.response);
          });
        },
        () => {
          if (!aborted) res.cork(() => writeResponse(res, { status: 500, body: "internal error" }));
        },
      );
    },
    open: (ws) => {
      const connection = ws.getUserData();
      connection.socket = new UwsSocket(ws);
      connection.session = sockets.open(connection.socket, connection.data);
    },
    message: (ws, message, isBinary) => {
      const { session } = ws.getUserData();
      if (!session) return;
      if (message.byteLength > options.maxFrameBytes) return session.oversized();
      if (isBinary) return session.binary();
      let text: string;
      try {
        text = textDecoder.decode(message);
      } catch {
        // Invalid UTF-8 in a text frame: the RFC answers with 1007; the session treats it as undecodable data.
        return session.binary();
      }
      session.text(text);
    },
    close: (ws, code) => {
      const connection = ws.getUserData();
      connection.socket?.markClosed();
      connection.session?.closed(code);
    },
  });

  app.any("/*", (res, req) => {
    const request = copyRequest(req);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    http(request).then(
      (response) => {
        if (!aborted) res.cork(() => writeResponse(res, response));
      },
      () => {
        if (!aborted) res.cork(() => writeResponse(res, { status: 500, body: "internal error" }));
      },
    );
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
  };
}

function writeResponse(res: uWS.HttpResponse, response: HttpResponse): void {
  res.writeStatus(`${response.status} ${STATUS_CODES[response.status] ?? ""}`);
  for (const [name, value] of Object.entries(response.headers ?? {})) res.writeHeader(name, value);
  res.end(response.body ?? "");
}
