import type { Log, LogRecord } from "@parley/log";
import { activeSpan, inSpan, SpanKind, traceHeaders, tracer } from "@parley/runtime";
import type { Bus, Published, PublishInput } from "./bus/bus.js";
import type { GatewayMetrics } from "./metrics.js";

const TRACER = tracer("parley-gateway");

type Metrics = Pick<GatewayMetrics, "busCallDuration" | "busCallErrors" | "logAppendDuration" | "logAppendErrors">;

async function timed<T>(observe: (seconds: number) => void, fail: () => void, operation: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await operation();
  } catch (error) {
    fail();
    throw error;
  } finally {
    observe((performance.now() - started) / 1000);
  }
}

/**
 * The Bus with every network call timed and counted by operation (`parley_gateway_bus_call_*`), and `publish`
 * traced as a child of the send's span, with the assigned seq and id added to that span. Listener, readiness and
 * `close` pass through untouched.
 */
export function instrumentBus(bus: Bus, metrics: Metrics, system: string): Bus {
  const call =
    <A extends unknown[], R>(op: string, method: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      timed(
        (seconds) => metrics.busCallDuration.observe({ op }, seconds),
        () => metrics.busCallErrors.inc({ op }),
        () => method.apply(bus, args),
      );
  const publish = call("publish", bus.publish);
  return {
    publish: (input: PublishInput): Promise<Published> =>
      inSpan(
        TRACER,
        "parley.bus.publish",
        { kind: SpanKind.CLIENT, attributes: { "db.system": system, "parley.room": input.room } },
        async (span) => {
          const published = await publish(input);
          const attributes = {
            "parley.seq": published.event.seq,
            "parley.message_id": published.event.id,
            "parley.duplicate": published.duplicate,
          };
          span.setAttributes(attributes);
          return published;
        },
      ).then((published) => {
        activeSpan()?.setAttributes({ "parley.seq": published.event.seq, "parley.message_id": published.event.id });
        return published;
      }),
    publishTyping: call("publish_typing", bus.publishTyping),
    publishRead: call("publish_read", bus.publishRead),
    publishInbox: call("publish_inbox", bus.publishInbox),
    joinPresence: call("join_presence", bus.joinPresence),
    leavePresence: call("leave_presence", bus.leavePresence),
    presence: call("presence", bus.presence),
    publishPersisted: call("publish_persisted", bus.publishPersisted),
    subscribe: call("subscribe", bus.subscribe),
    unsubscribe: call("unsubscribe", bus.unsubscribe),
    subscribeUser: call("subscribe_user", bus.subscribeUser),
    unsubscribeUser: call("unsubscribe_user", bus.unsubscribeUser),
    latest: call("latest", bus.latest),
    recent: call("recent", bus.recent),
    isReady: () => bus.isReady(),
    close: () => bus.close(),
  } satisfies Bus;
}

/**
 * The Log's `append` timed and counted (`parley_gateway_log_append_*`) and traced as a producer span whose W3C
 * trace context rides in the record's headers, so the persister's spans join the message's trace.
 */
export function instrumentAppend(log: Pick<Log, "append">, metrics: Metrics, system: string): Pick<Log, "append"> {
  return {
    append: (record: LogRecord) =>
      inSpan(
        TRACER,
        "parley.log.append",
        { kind: SpanKind.PRODUCER, attributes: { "messaging.system": system, "parley.room": record.key } },
        () =>
          timed(
            (seconds) => metrics.logAppendDuration.observe(seconds),
            () => metrics.logAppendErrors.inc(),
            () => log.append({ ...record, headers: { ...record.headers, ...traceHeaders() } }),
          ),
      ),
  };
}
