import { describe, expect, it } from "vitest";
import { loadOnce } from "../../../src/core/load-once.js";

/** A load the test settles by hand, counting how often it was started. */
function manualLoad<T>(): { load: () => Promise<T>; starts: () => number; resolve: (v: T) => void; reject: (e: Error) => void } {
  let starts = 0;
  let settle: { resolve: (v: T) => void; reject: (e: Error) => void } | undefined;
  return {
    load: () => {
      starts++;
      return new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
    },
    starts: () => starts,
    resolve: (v) => settle?.resolve(v),
    reject: (e) => settle?.reject(e),
  };
}

describe("loadOnce", () => {
  it("gives concurrent first callers one load, and later callers its value", async () => {
    const m = manualLoad<string>();
    const get = loadOnce(m.load);
    const first = [get(), get(), get()];
    expect(m.starts()).toBe(1);
    m.resolve("werift");
    expect(await Promise.all(first)).toEqual(["werift", "werift", "werift"]);
    expect(await get()).toBe("werift");
    expect(m.starts()).toBe(1);
  });

  it("rejects every caller of a failed load, and the next call loads again", async () => {
    const m = manualLoad<string>();
    const get = loadOnce(m.load);
    const waiting = [get(), get()];
    m.reject(new Error("EMFILE"));
    for (const w of waiting) await expect(w).rejects.toThrow("EMFILE");
    const retry = get();
    expect(m.starts()).toBe(2);
    m.resolve("loaded");
    expect(await retry).toBe("loaded");
  });
});
