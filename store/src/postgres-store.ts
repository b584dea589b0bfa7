import type { Logger } from "@parley/runtime";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { KyselyStore } from "./kysely-store.js";
import type { Database } from "./schema.js";

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` */
  readonly connectionString: string;
  /** Most connections the pool opens. @default 4 */
  readonly poolSize?: number;
  /** Told about connections that fail while idle in the pool (the pool replaces them). */
  readonly logger?: Logger;
}

const DEFAULT_POOL_SIZE = 4;
/** Waiting longer for a connection than this means the database is unreachable: fail, so the caller retries. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A query unanswered for this long (a half-open connection) fails instead of hanging its caller forever. */
const QUERY_TIMEOUT_MS = 60_000;

/** The Store on PostgreSQL, through a `pg` connection pool. */
export function createPostgresStore({
  connectionString,
  poolSize = DEFAULT_POOL_SIZE,
  logger,
}: PostgresStoreOptions): KyselyStore {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // A connection the server drops (a restart) emits "error"; unheard, that would crash the process. The pool hears
  // it for idle connections; for one in use, the query in progress fails with it and the pool discards the
  // connection when it comes back, so hearing it is enough.
  const dropped = (error: Error) => logger?.warn({ err: error }, "a database connection failed");
  pool.on("error", dropped);
  pool.on("connect", (client) => client.on("error", dropped));
  return new KyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
}
