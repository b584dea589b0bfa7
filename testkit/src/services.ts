import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** `scripts/services.sh`, found from this file so that it works from `src/` and `dist/` in any checkout. */
const servicesScript = fileURLToPath(new URL("../../scripts/services.sh", import.meta.url));

/** A local real service that tests may take down and bring back. */
export type ServiceName = "redis" | "redis-cluster" | "postgres" | "kafka";

/** What to do to it: `start` waits until the service answers; `restart` gives an empty Redis (or Redis Cluster). */
export type ServiceAction = "start" | "stop" | "restart";

/**
 * Starts, stops or restarts one of the local real services through `scripts/services.sh`, so that
 * tests can simulate an outage (or, for Redis, data loss) and the recovery from it.
 *
 * Resolves once the script has finished: after `start`/`restart` the service accepts requests, after
 * `stop` its process has exited. Rejects with the script's output when it fails. Calls from parallel
 * test workers are serialised by the script.
 */
export function serviceCtl(action: ServiceAction, service: ServiceName): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      servicesScript,
      [action, service],
      // A first start may install packages and resolve Kafka's jars; a broker start alone takes seconds.
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve();
          return;
        }
        const reason = error.killed ? `killed by ${error.signal ?? "a signal"}` : `exit code ${error.code}`;
        const output = [stderr.trim(), stdout.trim()].filter((text) => text !== "").join("\n");
        const message = `scripts/services.sh ${action} ${service} failed (${reason})\n${output}`;
        reject(new Error(message, { cause: error }));
      },
    );
  });
}
