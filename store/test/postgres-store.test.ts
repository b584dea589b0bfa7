import { createPostgresStore } from "@parley/store";
import { storeContract, testMessage } from "@parley/store/contract";
import { migrationProvider } from "@parley/store/migrations";
import { waitFor } from "@parley/testkit";
import { type FreshDatabase, freshDatabase, withClient } from "@parley/testkit/database";
import { Kysely, Migrator, PostgresDialect } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let database: FreshDatabase;
beforeAll(async () => {
  database = await freshDatabase("persister_store");
});
afterAll(async () => {
  await database?.drop();
});

storeContract("postgresql", {
  create: async () => createPostgresStore({ connectionString: database.url }),
  bodies: async (room) => {
    const rows = await query<{ body: string }>(database, "select body from messages where room = $1 order by seq", [
      room,
    ]);
    return rows.map((row) => row.body);
  },
});

describe("PostgreSQL migrations", () => {
  it("apply each migration once when several processes migrate a fresh database at once", async () => {
    const fresh = await freshDatabase("persister_migrate");
    const stores = Array.from({ length: 4 }, () => createPostgresStore({ connectionString: fresh.url, poolSize: 1 }));
    try {
      await Promise.all(stores.map((store) => store.migrate()));
      const applied = await query<{ name: string }>(fresh, "select name from kysely_migration order by name");
      const all = Object.keys(await migrationProvider.getMigrations()).sort();
      expect(applied.map((row) => row.name)).toEqual(all);
      expect(await messagesTables(fresh)).toBe(1);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await fresh.drop();
    }
  });

  it("keep the messages stored before the stream had other kinds, as messages", async () => {
    const fresh = await freshDatabase("persister_migrate");
    const older = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: fresh.url }) }),
    });
    const store = createPostgresStore({ connectionString: fresh.url, poolSize: 1 });
    try {
      const { error } = await new Migrator({ db: older, provider: migrationProvider }).migrateTo("0002-watermarks");
      expect(error).toBeUndefined();
      const message = testMessage("room", 1);
      await query(
        fresh,
        "insert into messages (room, seq, id, cid, sender, body, ts) values ($1, $2, $3, $4, $5, $6, $7)",
        [message.room, message.seq, message.id, message.cid, message.from, message.body, message.ts],
      );
      await store.migrate();
      expect(await store.events({ room: "room", after: 0, limit: 10 })).toEqual([message]);
      expect(await store.history({ room: "room", limit: 10, viewer: "bob" })).toEqual([{ ...message, reactions: [] }]);
      expect(await store.target("room", 1)).toEqual({ from: message.from, deleted: false });
    } finally {
      await older.destroy();
      await store.close();
      await fresh.drop();
    }
  });

  it("answer a search's word lookup from the messages_search index", async () => {
    const store = createPostgresStore({ connectionString: database.url, poolSize: 1 });
    try {
      await store.migrate();
      // The candidates step of KyselyStore.search, as it must be written for the partial expression index to serve it.
      const plan = await withClient(database.url, async (client) => {
        await client.query("set enable_seqscan = off");
        const result = await client.query<{ "QUERY PLAN": string }>(
          `explain select room, coalesce(target, seq) from messages
           where kind in ('msg', 'edit') and to_tsvector('simple', body) @@ websearch_to_tsquery('simple', $1)`,
          ["hello"],
        );
        return result.rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      expect(plan).toContain("Bitmap Index Scan on messages_search");
    } finally {
      await store.close();
    }
  });

  it("wait for the advisory lock Kysely's migrator takes", async () => {
    // The lock id PostgresAdapter.acquireMigrationLock uses (kysely/dist/esm/dialect/postgres/postgres-adapter.js).
    const lockId = "3853314791062309107";
    const fresh = await freshDatabase("persister_migrate");
    const holder = new pg.Client({ connectionString: fresh.url });
    const store = createPostgresStore({ connectionString: fresh.url, poolSize: 1 });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(${lockId})`);
      const migrating = store.migrate();
      await waitFor(
        async () =>
          (await query(fresh, "select 1 from pg_locks where locktype = 'advisory' and not granted")).length > 0,
        "the migration to wait for the lock",
      );
      expect(await messagesTables(fresh)).toBe(0);
      await holder.query(`select pg_advisory_unlock(${lockId})`);
      await migrating;
      expect(await messagesTables(fresh)).toBe(1);
    } finally {
      await holder.end();
      await store.close();
      await fresh.drop();
    }
  });
});

async function query<R extends pg.QueryResultRow>(
  database: FreshDatabase,
  sql: string,
  parameters: unknown[] = [],
): Promise<R[]> {
  return withClient(database.url, async (client) => (await client.query<R>(sql, parameters)).rows);
}

async function messagesTables(database: FreshDatabase): Promise<number> {
  return (await query(database, "select 1 from information_schema.tables where table_name = 'messages'")).length;
}
