import pg from "pg";
import { serviceEnv, uniqueName } from "./index.js";

export interface FreshDatabase {
  /** Connection string of the new, empty database. */
  readonly url: string;
  /** Drops it (terminating leftover connections). */
  drop(): Promise<void>;
}

/** An empty database of its own on the local PostgreSQL, so test files never share tables. */
export async function freshDatabase(prefix = "test"): Promise<FreshDatabase> {
  const admin = serviceEnv().databaseUrl;
  const name = uniqueName(prefix).replaceAll("-", "_");
  await withClient(admin, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withClient(admin, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Runs `work` on a short-lived connection. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  // A server restart while connected (outage tests) must fail `work`, not crash the test worker.
  client.on("error", () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
