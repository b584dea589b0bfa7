import { describe, expect, it } from "vitest";
import { type Point, sustained, sustainedTable } from "./report.js";

/** A fan-out run with only the fields `sustained` reads filled in meaningfully. */
function run(system: Point["system"], deliveries: number, p99: number, deliveredShare = 1): Point {
  return {
    run: `${system}-fanout-${deliveries / 100}`,
    system,
    scenario: "fanout",
    generator: "loadgen",
    connections: 10_000,
    roomSize: 100,
    offeredSends: deliveries / 100,
    offeredDeliveries: deliveries,
    deliveriesPerSecond: Math.round(deliveries * deliveredShare),
    deliveredShare,
    latency: { p50: 1, p95: p99, p99, max: p99 },
    ackP99: p99,
    ackedShare: 1,
    errors: 0,
    windowS: 32,
    cpu: { servers: 1, redis: 0, kafka: 0, persister: 0, postgres: 0, generator: 1, stolen: 0 },
    serverCpuMicrosPerDelivery: 1,
    generatorMicrosPerFrame: 1,
  };
}

describe("sustained", () => {
  it("is the highest load met with every lower load met too, out of run order", () => {
    const points = [
      run("parley", 50_000, 49.9),
      run("parley", 20_000, 10),
      run("parley", 40_000, 30),
      run("parley", 70_000, 60),
      // A lucky point above a missed one does not count.
      run("parley", 100_000, 40),
      run("reference", 20_000, 5),
      run("reference", 50_000, 50),
      run("reference", 70_000, 20, 0.99),
      run("socketio", 20_000, 51),
    ];
    expect(sustained(points)).toEqual(
      new Map([
        ["parley", 50_000],
        ["reference", 50_000],
        ["socketio", 0],
      ]),
    );
    expect(sustainedTable(points)).toContain("| parley | 50,000 | 100.0 % |");
    expect(sustainedTable(points)).toContain("| socketio | 0 | 0.0 % |");
  });

  it("ignores runs other than our generator's fan-out", () => {
    expect(sustained([{ ...run("parley", 20_000, 5), scenario: "ack" }])).toEqual(new Map());
  });
});
