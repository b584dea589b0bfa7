/**
 * Where a benchmark's CPU goes: utime + stime of each process from `/proc/<pid>/stat`, sampled before and after a
 * window, summed by the role the process plays. The local services are the processes `scripts/services.sh env`
 * names (PARLEY_REDIS_PID, PARLEY_POSTGRES_PID, PARLEY_KAFKA_PID); PostgreSQL is its postmaster and every process it
 * forked (backends, WAL writer, checkpointer, …), looked up again at each sample since backends come and go.
 */
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export const ROLES = ["servers", "redis", "kafka", "persister", "postgres", "generator"] as const;
export type Role = (typeof ROLES)[number];
/**
 * CPU seconds by role over a window; `servers` is NaN when one of them died during it (its CPU went with it).
 * `stolen` is the CPU time the hypervisor gave other guests while this machine's CPUs wanted to run (all CPUs,
 * `steal` in `/proc/stat`): on a shared virtual machine it is time every process here waited, which shows as latency.
 */
export type CpuSplit = Readonly<Record<Role, number>> & { readonly stolen: number };

/** The processes of each role, at one moment. */
export type RolePids = Readonly<Record<Role, readonly number[]>>;

/** CPU seconds so far per pid, by role (pids gone by then are missing), and the machine's stolen seconds so far. */
export interface CpuSample {
  readonly roles: Readonly<Record<Role, ReadonlyMap<number, number>>>;
  readonly stolen: number;
}

interface Stat {
  readonly ppid: number;
  readonly cpuSeconds: number;
}

async function stat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: the fields after it start past the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return {
    ppid: Number(fields[1]),
    cpuSeconds: (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS_PER_SECOND,
  };
}

/** A pid from `scripts/services.sh env`: none when the variable is unset or empty (the service is not running). */
function pidOf(value: string | undefined): number[] {
  const pid = Number.parseInt(value ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? [pid] : [];
}

/** The postmaster and its children. */
async function postgresPids(postmaster: number | undefined): Promise<number[]> {
  if (postmaster === undefined) return [];
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const parents = await Promise.all(pids.map(async (pid) => ((await stat(pid))?.ppid === postmaster ? pid : -1)));
  return [postmaster, ...parents.filter((pid) => pid > 0)];
}

/** The local services' processes (Redis standalone, Kafka, PostgreSQL), as `scripts/services.sh env` names them. */
export async function servicePids(env: NodeJS.ProcessEnv): Promise<Pick<RolePids, "redis" | "kafka" | "postgres">> {
  return {
    redis: pidOf(env.PARLEY_REDIS_PID),
    kafka: pidOf(env.PARLEY_KAFKA_PID),
    postgres: await postgresPids(pidOf(env.PARLEY_POSTGRES_PID)[0]),
  };
}

export async function sampleCpu(pids: RolePids): Promise<CpuSample> {
  const sample = async (of: readonly number[]) => {
    const seconds = new Map<number, number>();
    for (const pid of of) {
      const cpu = (await stat(pid))?.cpuSeconds;
      if (cpu !== undefined) seconds.set(pid, cpu);
    }
    return seconds;
  };
  const [servers, redis, kafka, persister, postgres, generator, stolen] = await Promise.all([
    sample(pids.servers),
    sample(pids.redis),
    sample(pids.kafka),
    sample(pids.persister),
    sample(pids.postgres),
    sample(pids.generator),
    stolenSeconds(),
  ]);
  return { roles: { servers, redis, kafka, persister, postgres, generator }, stolen };
}

/** The `steal` column of `/proc/stat`'s all-CPU line (the eighth number after "cpu"), in seconds. */
async function stolenSeconds(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n", 1)[0] ?? "";
  return Number(line.split(/\s+/)[8] ?? 0) / TICKS_PER_SECOND;
}

/**
 * CPU seconds by role between two samples: per process present at the end, what it used since the first sample
 * (all of it when it started in between, like a new PostgreSQL backend).
 */
export function cpuBetween(
  { roles: before, stolen }: CpuSample,
  { roles: after, stolen: stolenAfter }: CpuSample,
): CpuSplit {
  const split = (role: Role) => {
    let total = 0;
    for (const [pid, seconds] of after[role]) total += seconds - (before[role].get(pid) ?? 0);
    return total;
  };
  const serverDied = [...before.servers.keys()].some((pid) => !after.servers.has(pid));
  return {
    servers: serverDied ? Number.NaN : split("servers"),
    redis: split("redis"),
    kafka: split("kafka"),
    persister: split("persister"),
    postgres: split("postgres"),
    generator: split("generator"),
    stolen: stolenAfter - stolen,
  };
}
