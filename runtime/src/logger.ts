import { type Logger, pino } from "pino";
import { traceFields } from "./tracing.js";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured JSON logs on stdout. Message bodies are never logged at info or above. A line written inside a traced
 * span carries its `trace_id` and `span_id`, so logs and traces of one message join up. Lines are written
 * synchronously: with pino's asynchronous default, `process.exit` while a write was in flight let the lines after it
 * overtake it (seen: "closed" and "stopped" before "stopping"). The services log per event, never per message.
 */
export function createLogger(service: string, level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceFields,
  };
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
