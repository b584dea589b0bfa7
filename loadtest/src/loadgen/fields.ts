/**
 * Field readers for JSON frames that find a field by the text before it (`"body":"`) instead of parsing the frame.
 * They run once per received frame in the load generator, whose CPU per frame is one of the benchmark's figures (and
 * once per frame in the bare uWS reference), so numbers are read digit by digit rather than sliced for `Number()`.
 */

const ZERO = 48;
const NINE = 57;
const DOT = 46;
const QUOTE = 34;
const BACKSLASH = 92;

/**
 * The decimal number (digits, optionally a fraction) written right after the first `key` in `frame`, from `from`
 * on; NaN when `key` is missing or no digit follows it.
 */
export function numberAfter(frame: string, key: string, from = 0): number {
  const at = frame.indexOf(key, from);
  if (at < 0) return Number.NaN;
  let index = at + key.length;
  let value = 0;
  let digits = 0;
  for (let code = frame.charCodeAt(index); code >= ZERO && code <= NINE; code = frame.charCodeAt(++index)) {
    value = value * 10 + (code - ZERO);
    digits++;
  }
  if (digits === 0) return Number.NaN;
  if (frame.charCodeAt(index) !== DOT) return value;
  // The fraction's digits as a whole number, divided once: one rounding, not one per digit.
  let fraction = 0;
  let scale = 1;
  for (let code = frame.charCodeAt(++index); code >= ZERO && code <= NINE; code = frame.charCodeAt(++index)) {
    fraction = fraction * 10 + (code - ZERO);
    scale *= 10;
  }
  return value + fraction / scale;
}

/**
 * The raw content of the JSON string that the first `key` in `frame` opens (`key` ends with its opening `"`), up to
 * its closing quote, escapes kept as they are; undefined when `key` is missing or the string is unterminated.
 */
export function textAfter(frame: string, key: string): string | undefined {
  const at = frame.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length;
  for (let index = start; index < frame.length; index++) {
    const code = frame.charCodeAt(index);
    if (code === BACKSLASH) index++;
    else if (code === QUOTE) return frame.slice(start, index);
  }
  return undefined;
}
