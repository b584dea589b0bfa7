import { fileURLToPath } from "node:url";
import { type ConsumedRecord, DEAD_LETTER_HEADERS, KafkaLog } from "@parley/log";
import { kafkaLogOptions, testKafkaLog } from "@parley/log/testing";
import { type ChatMessage, ENVELOPE_VERSION, encodeEnvelope } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { testMessage } from "@parley/store/contract";
import { freePort, serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { type FreshDatabase, freshDatabase, withClient } from "@parley/testkit/database";
import { ServiceProcess } from "@parley/testkit/process";
import { serviceCtl } from "@parley/testkit/services";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPersisterMetrics } from "../src/metrics.js";
import { Persister } from "../src/persister.js";

const logger = createLogger("persister-it", "error");
/** How long PostgreSQL stays down in the outage test. */
const OUTAGE_MS = 20_000;
/** Catching up on thousands of rows after a restart or a rebalance takes longer than waitFor's default. */
const CATCH_UP = { timeoutMs: 90_000, intervalMs: 200 };

let database: FreshDatabase;
beforeAll(async () => {
  database = await freshDatabase("persister_it");
  const store = createPostgresStore({ connectionString: database.url });
  await store.migrate();
  await store.close();
});
afterAll(async () => {
  await database?.drop();
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `perRoom` messages for each of `rooms` rooms, interleaved as concurrent rooms would produce them. */
function conversation(rooms: number, perRoom: number): { prefix: string; messages: ChatMessage[] } {
  const prefix = uniqueName("room");
  const messages: ChatMessage[] = [];
  for (let seq = 1; seq <= perRoom; seq++) {
    for (let room = 0; room < rooms; room++) messages.push(testMessage(`${prefix}.${room}`, seq));
  }
  return { prefix, messages };
}

function appendAll(log: KafkaLog, messages: readonly ChatMessage[]): Promise<unknown> {
  return Promise.all(messages.map((message) => log.append({ key: message.room, value: encodeEnvelope(message) })));
}

interface RoomRows {
  readonly room: string;
  readonly count: number;
  readonly max: number;
}

/** Per room with the prefix: how many rows, and the highest seq. */
async function roomRows(prefix: string): Promise<RoomRows[]> {
  return withClient(database.url, async (client) => {
    const { rows } = await client.query<RoomRows>(
      "select room, count(*)::int as count, max(seq)::int as max from messages where room like $1 group by room order by room",
      [`${prefix}.%`],
    );
    return rows;
  });
}

async function storedCount(prefix: string): Promise<number> {
  return (await roomRows(prefix)).reduce((sum, room) => sum + room.count, 0);
}

/** Every room holds seqs 1..perRoom: with (room, seq) the primary key, that is all of them, each exactly once. */
async function expectExactlyOnce(prefix: string, rooms: number, perRoom: number): Promise<void> {
  const expected = Array.from({ length: rooms }, (_, room) => ({
    room: `${prefix}.${room}`,
    count: perRoom,
    max: perRoom,
  }));
  const byRoom = (a: RoomRows, b: RoomRows) => a.room.localeCompare(b.room);
  expect((await roomRows(prefix)).sort(byRoom)).toEqual(expected.sort(byRoom));
}

/** A KafkaLog on fresh topics, a PostgreSQL store and a running Persister over them, closed after the test. */
async function startPersister(log?: KafkaLog) {
  const kafka = log ?? (await testKafkaLog({ partitions: 6 }));
  const store = createPostgresStore({ connectionString: database.url });
  const metrics = createPersisterMetrics();
  const fatal: unknown[] = [];
  const persister = new Persister({
    log: kafka,
    store,
    group: uniqueName("persister"),
    logger,
    metrics,
    onFatal: (error) => fatal.push(error),
  });
  await persister.start();
  cleanups.push(async () => {
    await persister.close();
    await kafka.close();
    await store.close();
  });
  return { log: kafka, metrics, fatal };
}

describe("Persister on Kafka and PostgreSQL", () => {
  it("stores 10,000 envelopes from several rooms and partitions exactly once", async () => {
    const { log, metrics } = await startPersister();
    const { prefix, messages } = conversation(20, 500);
    await appendAll(log, messages);
    await waitFor(async () => (await storedCount(prefix)) === messages.length, "all 10,000 rows", CATCH_UP);
    await expectExactlyOnce(prefix, 20, 500);
    expect((await metrics.rowsInserted.get()).values[0]?.value).toBe(messages.length);
  });

  it("waits out a PostgreSQL outage and catches up by itself, losing and duplicating nothing", async () => {
    const { log, metrics, fatal } = await startPersister();
    const { prefix, messages } = conversation(10, 500);
    const before = messages.slice(0, 2_000);
    await appendAll(log, before);
    await waitFor(async () => (await storedCount(prefix)) === before.length, "the rows before the outage", CATCH_UP);

    await serviceCtl("stop", "postgres");
    const stoppedAt = Date.now();
    try {
      await appendAll(log, messages.slice(before.length));
      const retries = async () => (await metrics.retries.get()).values[0]?.value ?? 0;
      await waitFor(
        async () => Date.now() - stoppedAt >= OUTAGE_MS && (await retries()) >= 3,
        "an outage the persister keeps retrying through",
        { timeoutMs: OUTAGE_MS + 30_000, intervalMs: 500 },
      );
    } finally {
      await serviceCtl("start", "postgres");
    }
    await waitFor(async () => (await storedCount(prefix)) === messages.length, "the rows after the outage", CATCH_UP);
    await expectExactlyOnce(prefix, 10, 500);
    expect(fatal).toEqual([]);
  });

  it("dead-letters garbage with its reason and origin, and persists the records after it", async () => {
    const options = kafkaLogOptions({ partitions: 2 });
    const { log } = await startPersister(await testKafkaLog(options));
    const room = `${uniqueName("room")}.0`;
    await log.append({ key: room, value: Buffer.from("not json") });
    await log.append({
      key: room,
      value: Buffer.from(JSON.stringify({ ...testMessage(room, 1), v: ENVELOPE_VERSION + 1 })),
    });
    const producer = new Kafka({ brokers: serviceEnv().kafkaBrokers, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({ topic: options.topic, messages: [{ key: room, value: null }] });
    await producer.disconnect();
    const valid = [1, 2, 3].map((seq) => testMessage(room, seq));
    await appendAll(log, valid);

    await waitFor(
      async () =>
        (await withClient(database.url, (c) => c.query("select 1 from messages where room = $1", [room]))).rowCount ===
        3,
      "the valid records after the garbage",
      CATCH_UP,
    );
    const letters = await readTopic(options.deadLetterTopic, 3);
    expect(
      letters.map((letter) => [letter.value?.toString() ?? null, letter.headers[DEAD_LETTER_HEADERS.reason]]),
    ).toEqual([
      ["not json", "value is not valid JSON"],
      [expect.stringContaining(`"v":${ENVELOPE_VERSION + 1}`), expect.stringMatching(/^v: /)],
      [null, "record has no value"],
    ]);
    for (const letter of letters) {
      expect(letter.key).toBe(room);
      expect(letter.headers[DEAD_LETTER_HEADERS.topic]).toBe(options.topic);
    }
    expect(letters.map((letter) => letter.headers[DEAD_LETTER_HEADERS.offset])).toEqual(["0", "1", "2"]);
    expect(new Set(letters.map((letter) => letter.headers[DEAD_LETTER_HEADERS.partition])).size).toBe(1);
  });

  it("loses nothing when a persister process is killed mid-run and another takes over", async () => {
    const options = kafkaLogOptions({ partitions: 6 });
    const log = await testKafkaLog(options);
    cleanups.push(() => log.close());
    const entry = fileURLToPath(new URL("../dist/main.js", import.meta.url));
    const env = {
      PARLEY_DATABASE_URL: database.url,
      PARLEY_KAFKA_BROKERS: serviceEnv().kafkaBrokers.join(","),
      PARLEY_KAFKA_TOPIC: options.topic,
      PARLEY_KAFKA_DLQ_TOPIC: options.deadLetterTopic,
      PARLEY_KAFKA_GROUP: uniqueName("persister"),
      PARLEY_KAFKA_PARTITIONS: "6",
      // The broker's minimum: the killed member's partitions are reassigned once its session expires.
      PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
      PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: "500",
      PARLEY_METRICS_PORT: "0",
    };
    const ready = (line: Record<string, unknown>) => line.msg === "persister consuming";
    const first = await ServiceProcess.start(entry, env, ready);
    cleanups.push(() => first.stop());
    // The chart's probes, on the metrics port: ready once consuming, alive throughout.
    const probe = async (path: string) =>
      (await fetch(`http://127.0.0.1:${Number(first.readyLog.metricsPort)}${path}`)).status;
    expect(await probe("/readyz")).toBe(200);
    expect(await probe("/healthz")).toBe(200);

    const { prefix, messages } = conversation(12, 500);
    const appending = (async () => {
      for (let start = 0; start < messages.length; start += 250)
        await appendAll(log, messages.slice(start, start + 250));
    })();
    await waitFor(async () => (await storedCount(prefix)) > 0, "the first rows");
    first.kill("SIGKILL");
    await first.exited;

    const second = await ServiceProcess.start(entry, env, ready);
    cleanups.push(() => second.stop());
    await appending;
    await waitFor(
      async () => (await storedCount(prefix)) === messages.length,
      "every row after the takeover",
      CATCH_UP,
    );
    await expectExactlyOnce(prefix, 12, 500);
    expect(await second.stop()).toBe(0);
  });
});

describe("persister probes", () => {
  it("a persister that cannot reach Kafka is alive (/healthz) but not ready (/readyz 503)", async () => {
    const [metricsPort, closedPort] = [await freePort(), await freePort()];
    const entry = fileURLToPath(new URL("../dist/main.js", import.meta.url));
    const env = {
      PARLEY_DATABASE_URL: database.url,
      PARLEY_KAFKA_BROKERS: `127.0.0.1:${closedPort}`,
      PARLEY_KAFKA_GROUP: uniqueName("persister"),
      PARLEY_METRICS_PORT: String(metricsPort),
    };
    // Its first failed connection: by then the metrics port is open (it is served before the log is created).
    const refused = (line: Record<string, unknown>) => line.component === "kafkajs";
    const persister = await ServiceProcess.start(entry, env, refused);
    cleanups.push(() => persister.stop());
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${metricsPort}${path}`)).status;
    expect(await status("/healthz")).toBe(200);
    expect(await status("/readyz")).toBe(503);
    expect(persister.logs.some((line) => line.msg === "persister consuming")).toBe(false);
  });
});

/** Reads the first `count` records of a topic, from the beginning, with a group of its own. */
async function readTopic(topic: string, count: number): Promise<ConsumedRecord[]> {
  const reader = new KafkaLog(kafkaLogOptions({ topic }));
  const records: ConsumedRecord[] = [];
  const consumption = await reader.consume({
    group: uniqueName("reader"),
    handler: async (batch) => {
      records.push(...batch);
    },
  });
  try {
    await waitFor(() => records.length >= count, `${count} records on ${topic}`);
    return records;
  } finally {
    await consumption.close();
    await reader.close();
  }
}
