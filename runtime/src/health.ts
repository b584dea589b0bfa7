/** The health endpoints every Parley service answers: `/healthz` (alive) and `/readyz` (ready for traffic). */
export type HealthPath = "/healthz" | "/readyz";

export interface HealthAnswer {
  readonly status: 200 | 503;
  readonly body: string;
}

export function isHealthPath(path: string): path is HealthPath {
  return path === "/healthz" || path === "/readyz";
}

/**
 * The answer to a probe. `/healthz` is 200 whenever the process answers at all: it never looks at dependencies, so a
 * Redis or Kafka outage takes pods out of rotation (`/readyz`) without restarting them all. `/readyz` is 200 only
 * while `ready()` says so (asked only for `/readyz`).
 */
export function healthAnswer(path: HealthPath, ready: () => boolean): HealthAnswer {
  if (path === "/healthz") return { status: 200, body: "ok" };
  return ready() ? { status: 200, body: "ready" } : { status: 503, body: "not ready" };
}
