import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The gateway's Prometheus metrics; names are stable and documented in the README. */
export function createGatewayMetrics(registry: Registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
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
    framesSent: new Counter({ name: "parley_gateway_frames_sent_total", help: "Frames sent to clients", registers }),
    errors: new Counter({
      name: "parley_gateway_error_frames_total",
      help: "Error frames sent by code",
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
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
