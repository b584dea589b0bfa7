/**
 * Persister throughput: rows per second from Kafka into PostgreSQL, on the local real services.
 *
 *   scripts/services.sh up && eval "$(scripts/services.sh env)" && npm run build && npm run bench:persister -w loadtest
 *
 * Appends MESSAGES envelopes (ROOMS rooms over PARTITIONS partitions) to a fresh topic, then starts a Persister
 * (KafkaLog consumer + PostgreSQL store, as `persister/src/main.ts` wires them) and measures the time until every
 * row is in a fresh database. Environment: BENCH_MESSAGES, BENCH_ROOMS, BENCH_PARTITIONS, BENCH_CONCURRENCY.
 */
import { randomUUID } from "node:crypto";
import { KafkaLog } from "@parley/log";
import { Persister } from "@parley/persister/persister";
import { encodeEnvelope } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { freshDatabase, withClient } from "@parley/testkit/database";

const messages = Number(process.env.BENCH_MESSAGES ?? 100_000);
const rooms = Number(process.env.BENCH_ROOMS ?? 100);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 12);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);
const logger = createLogger("bench", "warn");

const services = serviceEnv();
const database = await freshDatabase("bench");
const topic = uniqueName("bench.messages");
const kafka = {
  brokers: services.kafkaBrokers,
  clientId: "parley-bench",
  topic,
  deadLetterTopic: `${topic}.dlq`,
  partitions,
  partitionsConsumedConcurrently: concurrency,
  logger,
};
const store = createPostgresStore({ connectionString: database.url, poolSize: concurrency + 1, logger });
await store.migrate();
const producer = new KafkaLog(kafka);
await producer.ensureTopics();

const seqs = new Map<string, number>();
const appendStarted = performance.now();
await Promise.all(
  Array.from({ length: messages }, (_, index) => {
    const room = `bench-room-${index % rooms}`;
    const seq = (seqs.get(room) ?? 0) + 1;
    seqs.set(room, seq);
    const message = {
      room,
      seq,
      id: randomUUID(),
      cid: randomUUID(),
      from: "bench",
      body: `message ${index}`,
      ts: Date.now(),
    };
    return producer.append({ key: room, value: encodeEnvelope(message) });
  }),
);
const appendSeconds = (performance.now() - appendStarted) / 1000;
await producer.close();

const log = new KafkaLog(kafka);
const persister = new Persister({ log, store, group: `${topic}-persister`, logger });
const started = performance.now();
await persister.start();
const count = () =>
  withClient(database.url, async (client) =>
    Number((await client.query("SELECT count(*) AS n FROM messages")).rows[0].n),
  );
await waitFor(async () => (await count()) >= messages, "every row stored", { timeoutMs: 600_000, intervalMs: 100 });
const persistSeconds = (performance.now() - started) / 1000;
await persister.close();
await log.close();
await store.close();
await database.drop();

console.log(
  JSON.stringify({
    messages,
    rooms,
    partitions,
    concurrency,
    appendPerSecond: Math.round(messages / appendSeconds),
    persistRowsPerSecond: Math.round(messages / persistSeconds),
    persistSeconds: Number(persistSeconds.toFixed(2)),
  }),
);
