/**
 * The persister's insert statement against the alternatives, on the local PostgreSQL alone (no Kafka): rows per
 * second for each way of writing a batch idempotently, in one run, each in turn on the same emptied table.
 *
 *   scripts/services.sh up postgres && eval "$(scripts/services.sh env)" && npm run build && npm run bench:insert -w loadtest
 *
 * - `unnest`: the Store's own `insert` (`INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT DO NOTHING`).
 * - `values`: a multi-row `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING`, split under the 65,535 bind parameters.
 * - `copy`: `COPY … FROM STDIN` into the connection's temporary table, then `INSERT … SELECT … ON CONFLICT DO
 *   NOTHING` from it, in one transaction (COPY itself cannot skip conflicting rows); the table, created once,
 *   empties on commit.
 *
 * Environment: BENCH_ROWS (per run), BENCH_BATCHES (comma-separated batch sizes), BENCH_RUNS, BENCH_BODY_BYTES.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ChatMessage } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { freshDatabase } from "@parley/testkit/database";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const batches = (process.env.BENCH_BATCHES ?? "500,5000").split(",").map(Number);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const bodyBytes = Number(process.env.BENCH_BODY_BYTES ?? 100);

const COLUMNS = "room, seq, id, cid, sender, body, ts";
const MAX_PARAMETERS = 65_535;

const messages: ChatMessage[] = Array.from({ length: rows }, (_, index) => ({
  room: `bench-room-${index % 100}`,
  seq: Math.floor(index / 100) + 1,
  id: randomUUID(),
  cid: randomUUID(),
  from: `user-${index % 1000}`,
  body: "x".repeat(bodyBytes),
  ts: Date.now(),
}));

function row(message: ChatMessage): unknown[] {
  return [message.room, message.seq, message.id, message.cid, message.from, message.body, message.ts];
}

/** A field in COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyField(value: unknown): string {
  return String(value).replace(/[\\\t\n\r]/g, (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c] ?? c);
}

async function values(client: pg.Client, batch: readonly ChatMessage[]): Promise<void> {
  const perStatement = Math.floor(MAX_PARAMETERS / 7);
  for (let start = 0; start < batch.length; start += perStatement) {
    const chunk = batch.slice(start, start + perStatement);
    const placeholders = chunk.map(
      (_, r) => `(${Array.from({ length: 7 }, (_, c) => `$${r * 7 + c + 1}`).join(", ")})`,
    );
    await client.query(`INSERT INTO messages (${COLUMNS}) VALUES ${placeholders.join(", ")} ON CONFLICT DO NOTHING`, [
      ...chunk.flatMap(row),
    ]);
  }
}

async function copy(client: pg.Client, batch: readonly ChatMessage[]): Promise<void> {
  await client.query("BEGIN");
  try {
    const lines = batch.map((message) => `${row(message).map(copyField).join("\t")}\n`);
    await pipeline(Readable.from(lines), client.query(copyFrom(`COPY staging (${COLUMNS}) FROM STDIN`)));
    await client.query(`INSERT INTO messages (${COLUMNS}) SELECT ${COLUMNS} FROM staging ON CONFLICT DO NOTHING`);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
}

const database = await freshDatabase("bench_insert");
const store = createPostgresStore({
  connectionString: database.url,
  poolSize: 1,
  logger: createLogger("bench", "warn"),
});
await store.migrate();
const client = new pg.Client({ connectionString: database.url });
await client.connect();
await client.query("CREATE TEMP TABLE staging (LIKE messages) ON COMMIT DELETE ROWS");

const statements: Record<string, (batch: readonly ChatMessage[]) => Promise<unknown>> = {
  unnest: (batch) => store.insert(batch),
  values: (batch) => values(client, batch),
  copy: (batch) => copy(client, batch),
};

const results: { statement: string; batch: number; run: number; rowsPerSecond: number }[] = [];
try {
  for (const batch of batches) {
    for (let run = 1; run <= runs; run++) {
      for (const [statement, write] of Object.entries(statements)) {
        await client.query("TRUNCATE messages");
        await client.query("CHECKPOINT");
        const started = performance.now();
        for (let start = 0; start < rows; start += batch) await write(messages.slice(start, start + batch));
        const seconds = (performance.now() - started) / 1000;
        const stored = Number((await client.query("SELECT count(*) AS n FROM messages")).rows[0].n);
        if (stored !== rows) throw new Error(`${statement}: ${stored} of ${rows} rows stored`);
        results.push({ statement, batch, run, rowsPerSecond: Math.round(rows / seconds) });
        console.error(`${statement} batch ${batch} run ${run}: ${results.at(-1)?.rowsPerSecond} rows/s`);
      }
    }
  }
} finally {
  await client.end();
  await store.close();
  await database.drop();
}

console.log(`| statement | ${batches.map((batch) => `rows/s, batches of ${batch}`).join(" | ")} |`);
console.log(`|---|${batches.map(() => "---").join("|")}|`);
for (const statement of Object.keys(statements)) {
  const cells = batches.map((batch) =>
    results
      .filter((result) => result.statement === statement && result.batch === batch)
      .map((result) => result.rowsPerSecond.toLocaleString("en"))
      .join(" · "),
  );
  console.log(`| ${statement} | ${cells.join(" | ")} |`);
}
console.log(JSON.stringify({ rows, batches, runs, bodyBytes, results }));
