import { afterEach, describe, expect, it } from "vitest";
import type { RateLimitStore } from "../../src/ports/rate-limit-store.js";
import type { TimeControl } from "./time-control.js";

export interface RateLimitFixture {
  store: RateLimitStore;
  /** Another node's handle on the same counters (the same object for a one-process store). */
  peer: RateLimitStore;
  time: TimeControl;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every RateLimitStore shares (memory, Redis): a fixed window per key that starts
 * at the key's first hit. `shortWindowMs` is used where the window must end during the test.
 */
export function rateLimitStoreContract(name: string, make: () => Promise<RateLimitFixture>, shortWindowMs: number): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    const open: RateLimitFixture[] = [];
    const fixture = async (): Promise<RateLimitFixture> => {
      const fx = await make();
      open.push(fx);
      return fx;
    };
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.cleanup();
    });
    const LONG = 60_000;

    it("allows exactly `limit` hits per window, then refuses with the window's remaining time", async () => {
      const fx = await fixture();
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await fx.store.consume("ip:1", 3, LONG));
      expect(seen).toEqual([
        { allowed: true, remaining: 2, retryAfterMs: 0 },
        { allowed: true, remaining: 1, retryAfterMs: 0 },
        { allowed: true, remaining: 0, retryAfterMs: 0 },
      ]);
      if (fx.time.exact) await fx.time.after(20_000, async () => true, "time passes");
      const refused = await fx.peer.consume("ip:1", 3, LONG);
      expect(refused.allowed).toBe(false);
      expect(refused.remaining).toBe(0);
      if (fx.time.exact) expect(refused.retryAfterMs).toBe(40_000);
      else {
        expect(refused.retryAfterMs).toBeGreaterThan(LONG - 10_000);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(LONG);
      }
      // refused hits are not counted
      expect(await fx.store.peek("ip:1", LONG)).toBe(3);
    });

    it("counts hits from every handle together and keys apart", async () => {
      const fx = await fixture();
      const all = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? fx.peer : fx.store).consume("user:vera", 4, LONG)));
      expect(all.filter((d) => d.allowed)).toHaveLength(4);
      expect((await fx.store.consume("user:other", 4, LONG)).allowed).toBe(true);
      expect(await fx.peer.peek("user:other", LONG)).toBe(1);
    });

    it("refuses at once with a limit of 0, and the retry time is the window", async () => {
      const fx = await fixture();
      const d = await fx.store.consume("ip:0", 0, LONG);
      expect(d.allowed).toBe(false);
      expect(d.retryAfterMs).toBeGreaterThan(LONG - 10_000);
      expect(d.retryAfterMs).toBeLessThanOrEqual(LONG);
    });

    it("starts a fresh window once the last one is over", async () => {
      const fx = await fixture();
      expect((await fx.store.consume("ip:2", 2, shortWindowMs)).allowed).toBe(true);
      expect((await fx.store.consume("ip:2", 2, shortWindowMs)).allowed).toBe(true);
      const refused = await fx.store.consume("ip:2", 2, shortWindowMs);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(shortWindowMs);
      if (fx.time.exact) {
        await fx.time.after(shortWindowMs - 1, async () => !(await fx.store.consume("ip:2", 2, shortWindowMs)).allowed, "still refused 1 ms before the window ends");
        expect((await fx.store.consume("ip:2", 2, shortWindowMs)).retryAfterMs).toBe(1);
      }
      await fx.time.after(shortWindowMs, async () => (await fx.store.peek("ip:2", shortWindowMs)) === 0, "window over");
      expect(await fx.store.consume("ip:2", 2, shortWindowMs)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
    });

    it("peeks without counting, and forgets a key on reset", async () => {
      const fx = await fixture();
      expect(await fx.store.peek("login:vera", LONG)).toBe(0);
      await fx.store.consume("login:vera", 5, LONG);
      await fx.store.consume("login:vera", 5, LONG);
      expect(await fx.peer.peek("login:vera", LONG)).toBe(2);
      expect(await fx.peer.peek("login:vera", LONG)).toBe(2);
      await fx.peer.reset("login:vera");
      expect(await fx.store.peek("login:vera", LONG)).toBe(0);
      expect(await fx.store.consume("login:vera", 5, LONG)).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
      await fx.store.reset("never-seen");
    });
  });
}
