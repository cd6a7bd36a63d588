/**
 * Marks a replacement put into werift (or a library werift loads) with the original it replaced.
 * The mark is a registered symbol, so every copy of our modules (a test runner may load them more
 * than once in a process where werift is loaded once) finds it: a second install sees the first,
 * and equivalence tests reach werift's own code.
 */
const ORIGINAL = Symbol.for("imageflowcanvas.werift.original");

type Fn = (...args: never[]) => unknown;

/** `replacement`, marked as standing in for `original`. */
export function markReplacement<T extends Fn>(replacement: T, original: Fn): T {
  Object.defineProperty(replacement, ORIGINAL, { value: original });
  return replacement;
}

/** The original behind a replacement; undefined for a function that replaced nothing. */
export function originalOf<T extends Fn>(fn: T | undefined): T | undefined {
  return (fn as (T & { [ORIGINAL]?: T }) | undefined)?.[ORIGINAL];
}

/** werift's own function: the original behind `fn` if it is a replacement, else `fn` itself. */
export function unpatched<T extends Fn>(fn: T): T {
  return originalOf(fn) ?? fn;
}
