import v8 from "node:v8";

/**
 * How far V8 lets the heap grow past what the last full collection kept (IFC_HEAP_GROWTH_PERCENT),
 * set once by the entry point: it is process-wide. V8's own choice (a factor from its measured
 * GC and allocation speeds) left the heap of a server with live streams so little room that a
 * full collection ran every ~0.6 s at 8 streams (`--trace-gc`), its marking about half of the
 * server's CPU; a fixed factor of 2 (100 %, Go's GOGC default) runs one every ~5 s there
 * (bench/ingest-cost.ts: 1.3 → 0.2 full GCs per second). V8 reads the flag each time it sets the next limit
 * (heap-controller.cc), so setting it at run time, before the server starts, governs every
 * collection after; test/integration/v8-heap-growth.test.ts checks this Node honours it.
 * Returns the flag set, or undefined for 0 (V8's own heuristics).
 */
export function applyHeapGrowth(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): string | undefined {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth percent must be a non-negative integer, got ${percent}`);
  if (percent === 0) return undefined;
  const flag = `--heap-growing-percent=${percent}`;
  setFlags(flag);
  return flag;
}
