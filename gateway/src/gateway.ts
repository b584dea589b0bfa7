import type { Log } from "@parley/log";
import { CloseCode, ErrorCode, frameType, isMessage } from "@parley/protocol";
import { healthAnswer, type Logger } from "@parley/runtime";
import type { Store } from "@parley/store";
import type { Authenticator, Identity } from "./auth/auth.js";
import type { Bus, BusEvent } from "./bus/bus.js";
import { type FileSharing, filesRoute } from "./files.js";
import {
  authenticateRequest,
  errorResponse,
  historyRoute,
  inboxRoute,
  meRoute,
  methodNotAllowed,
  searchRoute,
} from "./http-api.js";
import { LocalRooms } from "./local-rooms.js";
import { LocalUsers } from "./local-users.js";
import type { GatewayMetrics } from "./metrics.js";
import type {
  HttpRequest,
  HttpResponse,
  Socket,
  SocketHandler,
  SocketSession,
  Topics,
  UpgradeDecision,
} from "./server.js";
import { ClientSession, type SessionContext, type SessionLimits } from "./session.js";

export interface DrainOptions {
  /** Connections closed per batch. */
  readonly batchSize: number;
  /** Mean pause between batches in ms; each pause is jittered by +-50% so clients don't reconnect in lockstep. */
  readonly intervalMs: number;
}

export interface GatewayOptions {
  readonly auth: Authenticator;
  readonly bus: Bus;
  readonly log: Pick<Log, "append">;
  readonly store: Pick<
    Store,
    "history" | "search" | "events" | "target" | "saveRead" | "readPositions" | "inbox" | "addMember" | "removeMember"
  >;
  /** File sharing (uploads, downloads, attachments), unless it is off. */
  readonly files?: FileSharing;
  readonly limits: SessionLimits;
  /** Largest page of the history and search APIs. */
  readonly maxHistoryLimit: number;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The transport's fan-out: one topic per room with members here. */
  readonly topics: Topics;
  /** Answers for paths that are none of the gateway's own (the embedded web client). */
  readonly fallback?: (request: HttpRequest) => HttpResponse | undefined;
}

/**
 * The gateway's behaviour independent of the transport: upgrades, sessions, local rooms, HTTP routes, readiness
 * and the drain. `server.ts` feeds it connections and requests.
 */
export class Gateway implements SocketHandler<Identity> {
  readonly #sessions = new Set<ClientSession>();
  readonly #rooms: LocalRooms;
  readonly #users: LocalUsers;
  /** What every session works with: one object for all of them. */
  readonly #context: SessionContext;
  #draining = false;
  /** Whether the latest Log append failed: the Log counts as down until one succeeds again. */
  #logFailing = false;

  constructor(private readonly options: GatewayOptions) {
    const { metrics } = options;
    this.#rooms = new LocalRooms(
      options.bus,
      options.topics,
      (event, deliveries) => {
        metrics.framesSent.inc(frameType(event), deliveries);
        if (isMessage(event)) metrics.deliveries.inc("live", deliveries);
      },
      (room, error) => options.logger.warn({ err: error, room }, "leaving the room on the bus failed"),
    );
    this.#users = new LocalUsers(options.bus, (user, error) =>
      options.logger.warn({ err: error, user }, "changing the user's subscription on the bus failed"),
    );
    this.#context = {
      bus: options.bus,
      log: options.log,
      store: options.store,
      rooms: this.#rooms,
      ...(options.files === undefined ? {} : { files: options.files }),
      limits: options.limits,
      metrics,
      logger: options.logger,
      appended: (ok) => {
        this.#logFailing = !ok;
      },
      ended: (session) => {
        this.#sessions.delete(session);
        this.#users.remove(session);
        metrics.connections.set(this.#sessions.size);
        metrics.subscribedRooms.set(this.#rooms.size);
      },
    };
  }

  /** The Bus listener: hands an event to this gateway's members of its room, or to the connections of its user. */
  deliver(event: BusEvent): void {
    if (event.t === "inbox") {
      this.#users.deliver(event);
      return;
    }
    this.#rooms.deliver(event);
    // Send received (ts, the accepting gateway's clock) -> handed to this gateway's members.
    if (event.t === "sequenced")
      this.options.metrics.fanoutLatency.observe(Math.max(0, Date.now() - event.event.ts) / 1000);
  }

  get connections(): number {
    return this.#sessions.size;
  }

  isReady(): boolean {
    return !this.#draining && !this.#logFailing && this.options.bus.isReady();
  }

  async upgrade(request: HttpRequest): Promise<UpgradeDecision<Identity>> {
    const decision = await this.#decideUpgrade(request);
    if (!decision.accept) this.options.metrics.upgradesRefused.inc({ status: String(decision.response.status) });
    return decision;
  }

  async #decideUpgrade(request: HttpRequest): Promise<UpgradeDecision<Identity>> {
    if (this.#draining) {
      return { accept: false, response: errorResponse(503, ErrorCode.Unavailable, "gateway is draining") };
    }
    const authenticated = await authenticateRequest(this.options.auth, request);
    if ("refusal" in authenticated) return { accept: false, response: authenticated.refusal };
    return { accept: true, data: { user: authenticated.user, admin: authenticated.admin } };
  }

  open(socket: Socket, { user, admin }: Identity): SocketSession {
    const { metrics } = this.options;
    const session = new ClientSession(socket, user, admin, this.#context);
    this.#sessions.add(session);
    this.#users.add(session);
    metrics.connects.inc();
    metrics.connections.set(this.#sessions.size);
    if (this.#draining) session.close(CloseCode.ServiceRestart, "gateway is restarting");
    return session;
  }

  /**
   * Health, the history, search and inbox APIs and (embedded mode) the web client. Unknown paths get a JSON 404 and known
   * ones a 405 for a method they do not take; only a browser's page load falls back to the app (see `loadStaticFiles`).
   */
  async http(request: HttpRequest): Promise<HttpResponse> {
    switch (request.path) {
      case "/healthz":
      case "/readyz": {
        if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed(["GET", "HEAD"]);
        return healthAnswer(request.path, () => this.isReady());
      }
      case "/ws": {
        // uWS hands the WebSocket route everything that is not an upgrade.
        const response = errorResponse(426, ErrorCode.BadRequest, "this path takes WebSocket upgrades only");
        return { ...response, headers: { ...response.headers, upgrade: "websocket" } };
      }
      case "/metrics":
        return errorResponse(404, ErrorCode.NotFound, "metrics are served on the metrics port, not this one");
    }
    const api = {
      auth: this.options.auth,
      bus: this.options.bus,
      store: this.options.store,
      maxLimit: this.options.maxHistoryLimit,
    };
    const answer =
      (await historyRoute(request, api)) ??
      (await searchRoute(request, api)) ??
      (await inboxRoute(request, api)) ??
      (await meRoute(request, this.options.auth)) ??
      (await filesRoute(request, { auth: this.options.auth, files: this.options.files }));
    const found = answer ?? this.options.fallback?.(request);
    return found ?? errorResponse(404, ErrorCode.NotFound, `no such path: ${request.path}`);
  }

  /**
   * Fails readiness and refuses new upgrades at once, then closes every connection with 1012 in jittered batches.
   * Resolves when all are closed.
   */
  async drain({ batchSize, intervalMs }: DrainOptions): Promise<void> {
    this.#draining = true;
    this.options.metrics.draining.set(1);
    while (this.#sessions.size > 0) {
      let closed = 0;
      for (const session of this.#sessions) {
        if (closed++ >= batchSize) break;
        session.close(CloseCode.ServiceRestart, "gateway is restarting");
        this.#sessions.delete(session);
      }
      if (this.#sessions.size > 0) await sleep(intervalMs * (0.5 + Math.random()));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
