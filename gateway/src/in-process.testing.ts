import { createLogger } from "@parley/protocol/runtime";
import { Registry } from "prom-client";
import { DevAuthenticator } from "./auth/dev-auth.js";
import { Gateway, type GatewayOptions } from "./gateway.js";
import { createGatewayMetrics } from "./metrics.js";
import type { SendStatus, Socket } from "./server.js";
import type { SessionLimits } from "./session.js";

/** A socket that keeps every frame sent to it, decoded: for driving a Gateway in-process. */
export class RecordingSocket implements Socket {
  readonly frames: Record<string, unknown>[] = [];
  send(frame: string): SendStatus {
    this.frames.push(JSON.parse(frame) as Record<string, unknown>);
    return "sent";
  }
  bufferedAmount(): number {
    return 0;
  }
  close(): void {}
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
  options: Pick<GatewayOptions, "bus" | "log" | "store"> & Partial<GatewayOptions>,
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
