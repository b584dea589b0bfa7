import { Readable } from "node:stream";
import { createLogger } from "@parley/runtime";
import { Registry } from "prom-client";
import { DevAuthenticator } from "./auth/dev-auth.js";
import { Gateway, type GatewayOptions } from "./gateway.js";
import { createGatewayMetrics } from "./metrics.js";
import type { HttpRequest, SendStatus, Socket, Topics } from "./server.js";
import type { SessionLimits } from "./session.js";

/** The transport's topics for {@link RecordingSocket}s: a publish is sent to each subscribed socket in turn. */
export class RecordingTopics implements Topics {
  readonly subscribers = new Map<string, Set<RecordingSocket>>();
  publish(topic: string, frame: string): number {
    const sockets = this.subscribers.get(topic) ?? new Set();
    for (const socket of sockets) socket.send(frame);
    return sockets.size;
  }
}

/** A socket that keeps every frame sent to it, decoded: for driving a Gateway in-process. */
export class RecordingSocket implements Socket {
  readonly frames: Record<string, unknown>[] = [];
  constructor(private readonly topics: RecordingTopics) {}
  send(frame: string): SendStatus {
    this.frames.push(JSON.parse(frame) as Record<string, unknown>);
    return "sent";
  }
  subscribe(topic: string): void {
    const sockets = this.topics.subscribers.get(topic) ?? new Set();
    this.topics.subscribers.set(topic, sockets.add(this));
  }
  unsubscribe(topic: string): void {
    this.topics.subscribers.get(topic)?.delete(this);
  }
  bufferedAmount(): number {
    return 0;
  }
  close(): void {}
}

/** An HTTP request as the transport hands it to the gateway, for driving routes in-process. */
export function testRequest(
  method: string,
  path: string,
  {
    query = {},
    headers = {},
    body,
  }: { query?: Record<string, string>; headers?: Record<string, string>; body?: string } = {},
): HttpRequest {
  return {
    method,
    path,
    query: new URLSearchParams(query),
    headers: new Map(Object.entries(headers)),
    body: Readable.from(body === undefined ? [] : [Buffer.from(body)]),
  };
}

/** Limits loose enough that no in-process test runs into them. */
const TEST_LIMITS: SessionLimits = {
  framesPerSecond: 100,
  frameBurst: 100,
  shedEphemeralBytes: 1 << 20,
  slowConsumerBytes: 1 << 22,
  maxReplay: 100,
  typingIntervalMs: 1000,
  appendTimeoutMs: 5000,
};

/**
 * A Gateway driven in-process (feed it sockets with `open`): dev auth, loose limits, fresh metrics and a silent
 * logger unless `options` says otherwise.
 */
export function inProcessGateway(
  options: Pick<GatewayOptions, "bus" | "log" | "store" | "topics"> & Partial<GatewayOptions>,
): Gateway {
  return new Gateway({
    auth: new DevAuthenticator(),
    limits: TEST_LIMITS,
    maxHistoryLimit: 100,
    metrics: createGatewayMetrics(new Registry()),
    logger: createLogger("parley-test", "silent"),
    ...options,
  });
}

/**
 * A Store with nothing in it that keeps nothing, for gateways whose tests never reach beyond the Bus's recent buffer
 * (nor read an inbox).
 */
export const EMPTY_STORE: GatewayOptions["store"] = {
  history: async () => [],
  search: async () => [],
  events: async () => [],
  target: async () => undefined,
  saveRead: async () => {},
  readPositions: async () => new Map(),
  inbox: async () => [],
  addMember: async () => false,
  removeMember: async () => false,
};
