import type { Env } from "./config.js";
import { createLogger, type Logger, type LogLevel } from "./logger.js";

/** Exit anyway if a shutdown hangs: within the 30 s Kubernetes gives a pod after SIGTERM by default. */
export const SHUTDOWN_TIMEOUT_MS = 25_000;

/** What a service's start is handed to stop itself. */
export interface ServiceLifecycle {
  /** How the service stops, in order; set as soon as there is something to close. Before it, a signal just exits. */
  onStop(stop: () => Promise<void>): void;
  /** Stops the service because it cannot go on (exit code 1), e.g. its consumer died. */
  fail(reason: string, error: unknown): void;
}

export interface ServiceDefinition<C extends { readonly logLevel: LogLevel }> {
  /** The `service` field of every log line. */
  readonly name: string;
  /** Parses the environment once; its errors name the variable. */
  readonly loadConfig: (env: Env, warn: (message: string) => void) => C;
  readonly start: (config: C, logger: Logger, lifecycle: ServiceLifecycle) => Promise<void>;
  /** @default SHUTDOWN_TIMEOUT_MS */
  readonly shutdownTimeoutMs?: number;
}

/**
 * A service process's life, the same for every service: parse the configuration, start, and on SIGTERM or SIGINT (or
 * {@link ServiceLifecycle.fail}) stop once, in the service's order, exiting 1 when the stop fails, hangs past its
 * timeout or was caused by a failure. A start that throws is logged and exits 1.
 */
export async function runService<C extends { readonly logLevel: LogLevel }>(
  definition: ServiceDefinition<C>,
): Promise<void> {
  const bootLogger = createLogger(definition.name, "info");
  let logger = bootLogger;
  let stop: (() => Promise<void>) | undefined;
  let stopping = false;
  const shutdown = async (reason: string, error?: unknown) => {
    if (stopping) return;
    stopping = true;
    if (error === undefined) logger.info({ reason }, "stopping");
    else logger.fatal({ reason, err: error }, "stopping");
    setTimeout(() => {
      logger.error("shutdown timed out");
      process.exit(1);
    }, definition.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS).unref();
    try {
      await stop?.();
      logger.info("stopped");
      process.exit(error === undefined ? 0 : 1);
    } catch (stopError) {
      logger.error({ err: stopError }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  try {
    const config = definition.loadConfig(process.env, (message) => bootLogger.warn(message));
    logger = createLogger(definition.name, config.logLevel);
    await definition.start(config, logger, {
      onStop: (stopService) => {
        stop = stopService;
      },
      fail: (reason, error) => void shutdown(reason, error),
    });
  } catch (error) {
    bootLogger.fatal({ err: error }, "failed to start");
    process.exit(1);
  }
}
