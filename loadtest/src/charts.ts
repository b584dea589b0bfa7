import { mkdir, writeFile } from "node:fs/promises";
import { Resvg } from "@resvg/resvg-js";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Point } from "./report.js";

const SYSTEMS: Record<Point["system"], string> = {
  parley: "Parley",
  reference: "bare uWS reference",
  socketio: "Socket.IO + redis-adapter",
  centrifugo: "Centrifugo",
};

/**
 * Writes `fanout.png` into `dir`: deliveries per second reached, delivery latency (p50, p99) and the servers' CPU
 * per delivery, against the offered load, one line per system.
 */
export async function renderCharts(points: readonly Point[], dir: string, title: string): Promise<void> {
  const values = points.flatMap((point) => [
    { ...common(point), measure: "p50", latency: point.latency.p50 },
    { ...common(point), measure: "p99", latency: point.latency.p99 },
  ]);
  const x = { field: "offered", type: "quantitative", title: "offered deliveries/s (messages/s × room size)" } as const;
  const color = { field: "system", type: "nominal", title: null, legend: { orient: "top", labelLimit: 400 } } as const;
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values },
    background: "white",
    padding: 16,
    hconcat: [
      {
        width: 360,
        height: 260,
        title: "throughput",
        transform: [{ filter: "datum.measure === 'p50'" }],
        layer: [
          {
            mark: { type: "line", point: true },
            encoding: {
              x,
              y: { field: "delivered", type: "quantitative", title: "deliveries/s reached" },
              color,
            },
          },
          {
            mark: { type: "rule", strokeDash: [4, 4], color: "#888" },
            encoding: {
              x: { datum: 0 },
              y: { datum: 0 },
              x2: { datum: maxOffered(points) },
              y2: { datum: maxOffered(points) },
            },
          },
        ],
      },
      {
        width: 360,
        height: 260,
        title: "delivery latency (dashed: p50, solid: p99)",
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "latency", type: "quantitative", title: "ms", scale: { type: "log" } },
          color,
          strokeDash: { field: "measure", type: "nominal", legend: null, sort: ["p99", "p50"] },
          detail: { field: "measure" },
        },
      },
      {
        width: 300,
        height: 260,
        title: "server CPU per delivery (sends and drain)",
        transform: [{ filter: "datum.measure === 'p50'" }],
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "cpu", type: "quantitative", title: "µs of server CPU per delivery", scale: { zero: true } },
          color,
        },
      },
    ],
  };
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  const png = new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}/fanout.png`, png);
}

function common(point: Point) {
  return {
    system: SYSTEMS[point.system],
    offered: point.offeredDeliveries,
    delivered: point.deliveriesPerSecond,
    cpu: point.serverCpuMicrosPerDelivery,
  };
}

function maxOffered(points: readonly Point[]): number {
  return Math.max(...points.map((point) => point.offeredDeliveries));
}
