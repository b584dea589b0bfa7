import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Latency buckets in seconds, from sub-millisecond Redis calls to multi-second outages. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A counter with one label for the per-delivery hot path: counted in plain numbers (a few ns, where prom-client's
 * labelled `inc` costs ~100 ns) and handed to prom-client when scraped.
 */
function hotCounter({
  name,
  help,
  label,
  registers,
}: {
  name: string;
  help: string;
  label: string;
  registers: Registry[];
}) {
  const counts = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      this.reset();
      for (const [value, count] of counts) this.inc({ [label]: value }, count);
    },
  });
  return {
    inc(value: string, by = 1): void {
      counts.set(value, (counts.get(value) ?? 0) + by);
    },
  };
}

/** What the gateway's gauges read at scrape time (set once the gateway exists). */
export interface GatewayProbe {
  isReady(): boolean;
}

/**
 * The gateway's Prometheus metrics; names are stable, carry their unit, and are documented in the README
 * ("Metrics"). Dashboards and alerts in the chart use only these (checked by the chart and metrics tests).
 */
export function createGatewayMetrics(registry: Registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let probe: GatewayProbe | undefined;
  return {
    registry,
    /** Lets the readiness gauge follow the gateway. */
    watch(gateway: GatewayProbe): void {
      probe = gateway;
    },
    connections: new Gauge({ name: "parley_gateway_connections", help: "Open WebSocket connections", registers }),
    connects: new Counter({ name: "parley_gateway_connects_total", help: "Accepted WebSocket upgrades", registers }),
    upgradesRefused: new Counter({
      name: "parley_gateway_upgrades_refused_total",
      help: "Refused WebSocket upgrades by HTTP status",
      labelNames: ["status"],
      registers,
    }),
    disconnects: new Counter({
      name: "parley_gateway_disconnects_total",
      help: "Closed connections by close code",
      labelNames: ["code"],
      registers,
    }),
    framesReceived: new Counter({
      name: "parley_gateway_frames_received_total",
      help: "Frames received from clients by type (invalid and binary included)",
      labelNames: ["type"],
      registers,
    }),
    framesSent: hotCounter({
      name: "parley_gateway_frames_sent_total",
      help: "Frames sent to clients by type",
      label: "type",
      registers,
    }),
    deliveries: hotCounter({
      name: "parley_gateway_deliveries_total",
      help: "Chat messages written to clients of this gateway, live fan-out and replays",
      label: "path",
      registers,
    }),
    fanoutLatency: new Histogram({
      name: "parley_gateway_fanout_latency_seconds",
      help: "From a message's ts (set by the accepting gateway) to its delivery to this gateway's members; across hosts it includes their clock skew",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    errors: new Counter({
      name: "parley_gateway_error_frames_total",
      help: "Error frames sent by code (rate_limited counts rate-limited frames)",
      labelNames: ["code"],
      registers,
    }),
    shed: new Counter({
      name: "parley_gateway_shed_events_total",
      help: "Ephemeral events dropped for clients with a full send buffer",
      registers,
    }),
    slowConsumerCloses: new Counter({
      name: "parley_gateway_slow_consumer_closes_total",
      help: "Connections closed because their send buffer filled up",
      registers,
    }),
    ackLatency: new Histogram({
      name: "parley_gateway_ack_latency_seconds",
      help: "From a send frame received to its ack sent (sequenced and durable in the Log)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    busCallDuration: new Histogram({
      name: "parley_gateway_bus_call_duration_seconds",
      help: "Calls to the Bus (Redis) by operation, failed ones included",
      labelNames: ["op"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    busCallErrors: new Counter({
      name: "parley_gateway_bus_call_errors_total",
      help: "Failed calls to the Bus (Redis) by operation",
      labelNames: ["op"],
      registers,
    }),
    logAppendDuration: new Histogram({
      name: "parley_gateway_log_append_duration_seconds",
      help: "Appends to the Log (Kafka, acks from all in-sync replicas), failed ones included",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    logAppendErrors: new Counter({
      name: "parley_gateway_log_append_errors_total",
      help: "Failed appends to the Log (Kafka)",
      registers,
    }),
    subscribedRooms: new Gauge({
      name: "parley_gateway_subscribed_rooms",
      help: "Rooms with at least one member on this gateway",
      registers,
    }),
    draining: new Gauge({
      name: "parley_gateway_draining",
      help: "1 while the gateway drains for shutdown",
      registers,
    }),
    ready: new Gauge({
      name: "parley_gateway_ready",
      help: "1 while /readyz answers 200 (not draining, Bus and Log up)",
      registers,
      collect() {
        this.set(probe?.isReady() ? 1 : 0);
      },
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
