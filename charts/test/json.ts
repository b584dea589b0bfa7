/** Small checked accessors for rendered manifests (JSON from yaml2json), so the tests read them without casts. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The object at `path` below `value`; throws naming the path when it is missing or not an object. */
export function obj(value: unknown, ...path: string[]): JsonObject {
  const found = at(value, path);
  if (!isObject(found)) throw new Error(`expected an object at ${path.join(".") || "<root>"}, got ${typeof found}`);
  return found;
}

export function arr(value: unknown, ...path: string[]): Json[] {
  const found = at(value, path);
  if (!Array.isArray(found)) throw new Error(`expected a list at ${path.join(".")}, got ${typeof found}`);
  return found;
}

export function str(value: unknown, ...path: string[]): string {
  const found = at(value, path);
  if (typeof found !== "string") throw new Error(`expected a string at ${path.join(".")}, got ${typeof found}`);
  return found;
}

export function num(value: unknown, ...path: string[]): number {
  const found = at(value, path);
  if (typeof found !== "number") throw new Error(`expected a number at ${path.join(".")}, got ${typeof found}`);
  return found;
}

/** The value at `path`, or undefined when any step is missing. */
export function at(value: unknown, path: string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (isObject(current)) current = current[key];
    else return undefined;
  }
  return current;
}
