/**
 * One load generator process, forked by the coordinator (`load.ts`), which drives it over IPC (see `messages.ts`).
 * It opens its share of the connections along a ramp, then sends its share of the rate from one 10 ms timer
 * (whatever is due, from the next senders in turn), never a timer per connection, and measures what comes back.
 * Per received frame it does: one string decode, the protocol's `read` (a few `indexOf`s), a clock read, a histogram
 * increment.
 */
import { WebSocket } from "ws";
import { Histogram } from "./histogram.js";
import type { FromWorker, ToWorker, WorkerPlan, WorkerStats } from "./messages.js";
import type { Protocol, ProtocolEvents } from "./protocol.js";
import { protocolNamed } from "./protocols.js";

const TICK_MS = 10;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long closing sockets get for their close handshake before they are cut. */
const CLOSE_TIMEOUT_MS = 5_000;
const ERROR_SAMPLES = 5;

const origin = performance.timeOrigin;
/** Milliseconds since the epoch, fractional: the same clock as the stamps other workers put in their sends. */
const now = () => origin + performance.now();

/** The worker's counters; messages, acks and frames count only while `measuring`. */
class Tally {
  measuring = false;
  /** Set once the worker closes its sockets itself: closes from then on are not the server's. */
  closing = false;
  opened = 0;
  failed = 0;
  joined = 0;
  readonly closedByServer: Record<string, number> = {};
  sends = 0;
  acks = 0;
  deliveries = 0;
  errors = 0;
  readonly errorSamples: string[] = [];
  frames = 0;
  readonly latency = new Histogram();
  readonly ackLatency = new Histogram();
  /** Send time by cid, until the ack. */
  readonly pending = new Map<string, number>();
}

const tally = new Tally();

/** One connection: its socket, and the events its protocol reports for it. */
class Client implements ProtocolEvents {
  readonly socket: WebSocket;
  isJoined = false;
  isOpen = false;
  isClosed = false;

  constructor(
    protocol: Protocol,
    target: string,
    readonly user: string,
    readonly room: string,
    localAddress: string | undefined,
    closed: () => void,
  ) {
    this.socket = new WebSocket(protocol.url(target, user), {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    this.socket.on("open", () => {
      this.isOpen = true;
      tally.opened++;
      for (const frame of protocol.opened(room, user)) this.socket.send(frame);
    });
    this.socket.on("message", (data: WebSocket.RawData) => {
      if (tally.measuring) tally.frames++;
      protocol.read(data.toString(), this);
    });
    // A failed dial emits an error and then a close; the close is where it is counted.
    this.socket.on("error", () => {});
    this.socket.on("close", (code: number) => {
      this.isClosed = true;
      this.isJoined = false;
      if (!this.isOpen) tally.failed++;
      else if (!tally.closing) tally.closedByServer[code] = (tally.closedByServer[code] ?? 0) + 1;
      closed();
    });
  }

  joined(): void {
    if (this.isJoined || this.isClosed) return;
    this.isJoined = true;
    tally.joined++;
  }

  message(stamp: number): void {
    if (Number.isNaN(stamp)) this.error("a message without a readable stamp");
    else if (tally.measuring) {
      tally.deliveries++;
      tally.latency.record(now() - stamp);
    }
  }

  ack(cid: string): void {
    const sentAt = tally.pending.get(cid);
    if (sentAt === undefined || !tally.measuring) return;
    tally.pending.delete(cid);
    tally.acks++;
    tally.ackLatency.record(now() - sentAt);
  }

  error(detail: string): void {
    tally.errors++;
    if (tally.errorSamples.length < ERROR_SAMPLES) tally.errorSamples.push(detail.slice(0, 300));
  }

  reply(frame: string): void {
    this.socket.send(frame);
  }
}

function tell(message: FromWorker): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens the plan's connections at `connectRate` and waits until each is joined or gone, or the join timeout. */
async function connect(plan: WorkerPlan, protocol: Protocol, clients: Client[], closed: () => void): Promise<void> {
  const started = now();
  while (clients.length < plan.count) {
    const due = Math.min(plan.count, Math.floor(((now() - started) / 1000) * plan.connectRate) + 1);
    while (clients.length < due) {
      const n = plan.first + clients.length;
      const target = plan.targets[n % plan.targets.length] ?? "";
      clients.push(
        new Client(protocol, target, `u${n}`, `r${Math.floor(n / plan.roomSize)}`, plan.localAddress, closed),
      );
    }
    await sleep(TICK_MS);
  }
  const deadline = now() + plan.joinTimeoutS * 1000;
  while (now() < deadline && clients.some((client) => !client.isJoined && !client.isClosed)) await sleep(50);
}

/**
 * The senders in the order they take turns: by position in the room first, so that consecutive sends go to
 * different rooms rather than a room's members one after the other.
 */
function sendOrder(plan: WorkerPlan, clients: readonly Client[]): Client[] {
  const senders: { client: Client; n: number }[] = [];
  clients.forEach((client, index) => {
    const n = plan.first + index;
    if (n % plan.sendEvery === 0) senders.push({ client, n });
  });
  const rooms = Math.ceil((plan.first + plan.count) / plan.roomSize);
  const key = ({ n }: { n: number }) => (n % plan.roomSize) * rooms + Math.floor(n / plan.roomSize);
  return senders.sort((a, b) => key(a) - key(b)).map(({ client }) => client);
}

/**
 * Sends `rate` messages/s for `durationS` from the senders in turn, skipping any that are not joined (a send with
 * no joined sender left is not made). Returns after `durationS` even without senders: the worker still receives.
 */
async function send(plan: WorkerPlan, protocol: Protocol, senders: readonly Client[]): Promise<void> {
  const total = Math.round(plan.rate * plan.durationS);
  const started = now();
  let attempted = 0;
  let turn = 0;
  /** The next sender in turn that is joined, looking at each at most once. */
  const nextJoined = () => {
    for (let tries = 0; tries < senders.length; tries++) {
      const sender = senders[turn++ % senders.length];
      if (sender?.isJoined) return sender;
    }
    return undefined;
  };
  for (;;) {
    const elapsedS = (now() - started) / 1000;
    const due = elapsedS >= plan.durationS ? total : Math.min(total, Math.floor(elapsedS * plan.rate));
    for (; attempted < due; attempted++) {
      const sender = nextJoined();
      if (!sender) continue;
      const cid = String(plan.cidBase + tally.sends++);
      const stamp = now();
      tally.pending.set(cid, stamp);
      sender.socket.send(protocol.send(sender.room, cid, stamp));
    }
    if (elapsedS >= plan.durationS) return;
    await sleep(TICK_MS);
  }
}

function stats(cpu: NodeJS.CpuUsage): WorkerStats {
  return {
    opened: tally.opened,
    failed: tally.failed,
    joined: tally.joined,
    closedByServer: tally.closedByServer,
    sends: tally.sends,
    acks: tally.acks,
    deliveries: tally.deliveries,
    errors: tally.errors,
    errorSamples: tally.errorSamples,
    frames: tally.frames,
    cpuMicros: cpu.user + cpu.system,
    latency: tally.latency.toData(),
    ackLatency: tally.ackLatency.toData(),
  };
}

/** Closes every socket that is still open and resolves once all are closed (cutting the slow ones). */
function closeAll(clients: readonly Client[], allClosed: Promise<void>): Promise<void> {
  tally.closing = true;
  for (const client of clients) if (!client.isClosed) client.socket.close(1000);
  const cut = setTimeout(() => {
    for (const client of clients) if (!client.isClosed) client.socket.terminate();
  }, CLOSE_TIMEOUT_MS);
  return allClosed.finally(() => clearTimeout(cut));
}

const clients: Client[] = [];
let plan: WorkerPlan | undefined;
let protocol: Protocol | undefined;
let open = 0;
let allClosedNow: () => void = () => {};
const allClosed = new Promise<void>((resolve) => {
  allClosedNow = resolve;
});
const closed = () => {
  open--;
  if (tally.closing && open === 0) allClosedNow();
};

// The coordinator is gone: nothing will ask for the figures.
process.on("disconnect", () => process.exit(1));
process.on("message", (message: ToWorker) => {
  void handle(message).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});

async function handle(message: ToWorker): Promise<void> {
  switch (message.kind) {
    case "start": {
      plan = message.plan;
      protocol = protocolNamed(plan.protocol);
      open = plan.count;
      await connect(plan, protocol, clients, closed);
      await tell({ kind: "connected" });
      return;
    }
    case "send": {
      if (!plan || !protocol) throw new Error("send before start");
      const senders = sendOrder(plan, clients);
      const cpu = process.cpuUsage();
      tally.measuring = true;
      await send(plan, protocol, senders);
      await sleep(plan.drainS * 1000);
      tally.measuring = false;
      await tell({ kind: "done", stats: stats(process.cpuUsage(cpu)) });
      return;
    }
    case "close": {
      if (open > 0) await closeAll(clients, allClosed);
      process.exit(0);
    }
  }
}
