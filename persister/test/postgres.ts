import { serviceEnv, uniqueName } from "@parley/testkit";
import pg from "pg";

/** A database of its own on the local server, so test files never see each other's rows. */
export interface TestDatabase {
  readonly url: string;
  /** Runs one query on it (for assertions that look past the Store). */
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const server = serviceEnv().databaseUrl;
  const name = uniqueName("parley_test").replaceAll("-", "_");
  await onServer(server, `create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    query: async <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []) => {
      const client = connectable(url.toString());
      await client.connect();
      try {
        return (await client.query<R>(sql, values)).rows;
      } finally {
        await client.end();
      }
    },
    drop: () => onServer(server, `drop database if exists ${name} with (force)`),
  };
}

async function onServer(connectionString: string, sql: string): Promise<void> {
  const client = connectable(connectionString);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A client whose connection failing (a server restart in another test) fails its query instead of the process. */
export function connectable(connectionString: string): pg.Client {
  const client = new pg.Client({ connectionString });
  client.on("error", () => {});
  return client;
}
