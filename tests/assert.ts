/**
 * Small assertion vocabulary over `node:assert/strict` (JSR's @std/assert is out of reach here).
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts `fn` throws an instance of `cls` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => Error,
  includes?: string,
): void {
  try {
    fn();
  } catch (e) {
    nodeAssert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    if (includes) nodeAssert.ok(e.message.includes(includes), `message "${e.message}" lacks "${includes}"`);
    return;
  }
  nodeAssert.fail(`expected ${cls.name} to be thrown`);
}

/** Asserts `s` includes `part`. */
export function assertIncludes(s: string, part: string, msg?: string): void {
  nodeAssert.ok(s.includes(part), msg ?? `expected ${JSON.stringify(s)} to include ${JSON.stringify(part)}`);
}
