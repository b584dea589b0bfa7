import { z } from "zod";

/** Environment variables are read once, by the composition root, and passed here; nothing else reads them. */
export type Env = Readonly<Record<string, string | undefined>>;

type Shape = Record<string, z.ZodType>;

/** Thrown when the environment is invalid; the message names every offending variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** The error for one invalid variable (or set of variables, comma-separated), in {@link parseEnv}'s format. */
export function invalidConfig(name: string, problem: string): ConfigError {
  return new ConfigError(`invalid configuration:\n  ${name}: ${problem}`);
}

/** A variable's value, or an error naming it when it is unset (a list: empty); `when` says when it is required. */
export function required<T>(name: string, value: T | undefined, when?: string): T {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    throw invalidConfig(name, when === undefined ? "required" : `required when ${when}`);
  }
  return value;
}

// Read by the local scripts, not the services: tests start services with this in their environment.
const SCRIPT_VARIABLES: ReadonlySet<string> = new Set(["PARLEY_SERVICES_PORT_OFFSET"]);

/**
 * Parses the variables `shape` names out of `env` and freezes the result. Variables with the `PARLEY_` prefix that
 * `shape` does not know are reported through `warn` (a typo there would otherwise silently fall back to a default),
 * except those of the local scripts (`PARLEY_SERVICES_PORT_OFFSET`), which are ignored silently.
 */
export function parseEnv<S extends Shape>(
  shape: S,
  env: Env,
  warn: (message: string) => void,
): Readonly<z.infer<z.ZodObject<S>>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith("PARLEY_") && !(name in shape) && !SCRIPT_VARIABLES.has(name)) {
      warn(`unknown configuration variable ${name} is ignored`);
    }
  }
  return Object.freeze(result.data);
}

/** Variable schemas: each parses the raw string and states its default, so defaults live beside the parsing. */
export const env = {
  string: (fallback: string) => z.string().min(1).default(fallback),
  optionalString: () => z.string().min(1).optional(),
  int: (fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) =>
    z
      .string()
      .regex(/^\d+$/, "expected a whole number")
      .transform(Number)
      .pipe(z.number().min(min).max(max))
      .default(fallback),
  port: (fallback: number) => env.int(fallback, { min: 0, max: 65_535 }),
  /** A number from 0 to 1, e.g. a sampling ratio. */
  ratio: (fallback: number) =>
    z
      .string()
      .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, "expected a number from 0 to 1")
      .transform(Number)
      .default(fallback),
  /** An absolute http(s) URL. */
  optionalUrl: () =>
    z
      .string()
      .regex(/^https?:\/\/[^\s/]+/, "expected an http:// or https:// URL")
      .optional(),
  bool: (fallback: boolean) =>
    z
      .enum(["true", "false", "1", "0"], "expected true or false")
      .transform((value) => value === "true" || value === "1")
      .default(fallback),
  list: (fallback: readonly string[]) =>
    z
      .string()
      .transform((value) =>
        value
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item.length > 0),
      )
      .pipe(z.array(z.string()).min(1, "expected a comma-separated list"))
      .default([...fallback]),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
    z.enum(values).default(fallback),
};

/** For the `default` branch of an exhaustive `switch` over a configured kind: unknown values fail loudly. */
export function unknownKind(value: never, what: string): never {
  throw new ConfigError(`unknown ${what}: ${JSON.stringify(value)}`);
}
