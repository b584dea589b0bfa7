import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";

import { env } from "./config.js";

export { type Span, SpanKind, SpanStatusCode, type Tracer };

/** Where spans go; tracing is off (no SDK, the API's no-op tracer) unless one is given. */
export type TracingConfig =
  | { readonly kind: "off" }
  | {
      readonly kind: "otlp";
      /** OTLP/HTTP base URL of a collector, e.g. `http://otel-collector:4318`; spans go to `<url>/v1/traces`. */
      readonly endpoint: string;
      /** Share of new traces recorded (0..1); a trace continued from a record keeps its parent's decision. */
      readonly sampleRatio: number;
    };

/** The part of an OpenTelemetry SpanExporter tests hand in (e.g. `InMemorySpanExporter`). */
export type SpanExporterLike = NonNullable<
  ConstructorParameters<typeof import("@opentelemetry/sdk-node").NodeSDK>[0]
>["traceExporter"];

export interface Tracing {
  /** Flushes spans still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK for `service` (W3C trace context propagation, context kept across awaits) when
 * `config` asks for it; otherwise nothing is loaded and every span below is the API's free no-op. Only manual spans
 * are made (no auto-instrumentation): the message path is traced by the services themselves.
 * `exporter` replaces the OTLP exporter (tests pass an in-memory one; spans are then exported one by one).
 */
export async function startTracing(
  service: string,
  config: TracingConfig,
  exporter?: SpanExporterLike,
): Promise<Tracing> {
  if (config.kind === "off" && exporter === undefined) return { shutdown: async () => {} };
  const { NodeSDK, tracing } = await import("@opentelemetry/sdk-node");
  const ratio = config.kind === "otlp" ? config.sampleRatio : 1;
  const sampler = new tracing.ParentBasedSampler({ root: new tracing.TraceIdRatioBasedSampler(ratio) });
  let sdk: InstanceType<typeof NodeSDK>;
  if (exporter !== undefined) {
    sdk = new NodeSDK({
      serviceName: service,
      sampler,
      spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
      instrumentations: [],
    });
  } else {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    const endpoint = config.kind === "otlp" ? config.endpoint : "";
    sdk = new NodeSDK({
      serviceName: service,
      sampler,
      traceExporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, "")}/v1/traces` }),
      instrumentations: [],
    });
  }
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** The tracer of one service (the instrumentation scope names the service, also within one process). */
export function tracer(service: string): Tracer {
  return trace.getTracer(service);
}

/** W3C `traceparent` (and `tracestate`) of `parent` as record headers; empty when tracing is off or unsampled. */
export function traceHeaders(parent: Context = context.active()): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(parent, headers);
  return headers;
}

/** The context a record's headers carry (from {@link traceHeaders}), to parent the spans that handle it. */
export function contextFromHeaders(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(context.active(), headers);
}

/** The span context of a record's headers, for a link from a span that handles many records; undefined if none. */
export function linkFromHeaders(headers: Readonly<Record<string, string>>): Link | undefined {
  const spanContext = trace.getSpanContext(contextFromHeaders(headers));
  return spanContext === undefined ? undefined : { context: spanContext };
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** Parent context; the active one by default. */
  readonly parent?: Context;
  readonly links?: Link[];
}

/**
 * Runs `work` in a new active span (so spans and log lines made inside are its children), ends it when `work`
 * settles, and marks it failed with the error if `work` throws.
 */
export function inSpan<T>(
  tracerOf: Tracer,
  name: string,
  options: SpanOptions,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const { parent = context.active(), ...spanOptions } = options;
  return tracerOf.startActiveSpan(name, spanOptions, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active span (a no-op one when there is none), e.g. to add what became known along the way. */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}

/** `trace_id` and `span_id` of the active span for log lines; empty outside a span or with tracing off. */
export function traceFields(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** The tracing variables both services read (spread into their config's variables). */
export const TRACING_VARIABLES = {
  /** OTLP/HTTP collector base URL; unset: tracing off. */
  PARLEY_OTEL_ENDPOINT: env.optionalUrl(),
  PARLEY_OTEL_SAMPLE_RATIO: env.ratio(1),
};

/** The tracing slice of a parsed configuration. */
export function tracingConfig(v: { PARLEY_OTEL_ENDPOINT?: string | undefined; PARLEY_OTEL_SAMPLE_RATIO: number }) {
  const config: TracingConfig =
    v.PARLEY_OTEL_ENDPOINT === undefined
      ? { kind: "off" }
      : { kind: "otlp", endpoint: v.PARLEY_OTEL_ENDPOINT, sampleRatio: v.PARLEY_OTEL_SAMPLE_RATIO };
  return Object.freeze(config);
}
