import { type Logger, pino } from "pino";
import { traceFields } from "./tracing.js";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured JSON logs on stdout. Message bodies are never logged at info or above. A line written inside a traced
 * span carries its `trace_id` and `span_id`, so logs and traces of one message join up.
 */
export function createLogger(service: string, level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceFields,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
