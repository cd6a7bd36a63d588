import { afterEach, describe, expect, it } from "vitest";
import type { RefreshRecord, SessionStore } from "../../src/ports/session-store.js";
import type { TimeControl } from "./time-control.js";

export interface SessionStoreFixture {
  store: SessionStore;
  /** Another node's handle on the same sessions (the same object for a one-process store). */
  peer: SessionStore;
  time: TimeControl;
  cleanup(): Promise<void>;
}

/** The behaviour every SessionStore shares (file, Redis). `shortMs` is a lifetime that ends during the test. */
export function sessionStoreContract(name: string, make: () => Promise<SessionStoreFixture>, shortMs: number): void {
  describe(`SessionStore contract: ${name}`, () => {
    const open: SessionStoreFixture[] = [];
    const fixture = async (): Promise<SessionStoreFixture> => {
      const fx = await make();
      open.push(fx);
      return fx;
    };
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.cleanup();
    });
    const rec = (fx: SessionStoreFixture, p: Partial<RefreshRecord> = {}): RefreshRecord => ({
      hash: "h1",
      family: "fam1",
      username: "vera",
      expiresAtMs: fx.time.now() + 86_400_000,
      spent: false,
      revoked: false,
      ...p,
    });

    it("puts and gets a record; an unknown hash is undefined; a put replaces", async () => {
      const fx = await fixture();
      const r = rec(fx);
      await fx.store.put(r);
      expect(await fx.peer.get("h1")).toEqual(r);
      expect(await fx.peer.get("nope")).toBeUndefined();
      await fx.store.put({ ...r, revoked: true });
      expect((await fx.peer.get("h1"))?.revoked).toBe(true);
    });

    it("spends a record once: the second spend, or one of an unknown hash, is false", async () => {
      const fx = await fixture();
      await fx.store.put(rec(fx));
      expect(await fx.store.spend("h1")).toBe(true);
      expect(await fx.peer.spend("h1")).toBe(false);
      expect((await fx.peer.get("h1"))?.spent).toBe(true);
      expect(await fx.store.spend("nope")).toBe(false);
    });

    it("two concurrent spends of one record (two nodes): exactly one is true, every time", async () => {
      const fx = await fixture();
      for (let i = 0; i < 25; i++) {
        await fx.store.put(rec(fx, { hash: `race${i}` }));
        const won = await Promise.all([fx.store.spend(`race${i}`), fx.peer.spend(`race${i}`)]);
        expect(won.filter(Boolean)).toHaveLength(1);
      }
    });

    it("revokes a whole family and nothing else", async () => {
      const fx = await fixture();
      await fx.store.put(rec(fx, { hash: "a1", family: "A" }));
      await fx.store.put(rec(fx, { hash: "a2", family: "A", spent: true }));
      await fx.store.put(rec(fx, { hash: "b1", family: "B" }));
      await fx.peer.revokeFamily("A");
      expect((await fx.store.get("a1"))?.revoked).toBe(true);
      expect((await fx.store.get("a2"))?.revoked).toBe(true);
      expect((await fx.store.get("b1"))?.revoked).toBe(false);
      await fx.store.revokeFamily("unknown");
    });

    it("revokes every record of a user and nobody else's", async () => {
      const fx = await fixture();
      await fx.store.put(rec(fx, { hash: "v1", family: "V1" }));
      await fx.store.put(rec(fx, { hash: "v2", family: "V2" }));
      await fx.store.put(rec(fx, { hash: "o1", family: "O1", username: "otto" }));
      await fx.peer.revokeUser("vera");
      expect((await fx.store.get("v1"))?.revoked).toBe(true);
      expect((await fx.store.get("v2"))?.revoked).toBe(true);
      expect((await fx.store.get("o1"))?.revoked).toBe(false);
    });

    it("denies an access token until its expiry, then forgets it", async () => {
      const fx = await fixture();
      expect(await fx.store.isDenied("jti-1")).toBe(false);
      await fx.store.deny("jti-1", fx.time.now() + shortMs);
      await fx.store.deny("jti-long", fx.time.now() + 86_400_000);
      expect(await fx.peer.isDenied("jti-1")).toBe(true);
      await fx.time.after(shortMs, async () => !(await fx.peer.isDenied("jti-1")), "denial expired");
      expect(await fx.peer.isDenied("jti-long")).toBe(true);
      await fx.store.deny("jti-dead", fx.time.now() - 1000); // already expired: nothing to refuse
      expect(await fx.peer.isDenied("jti-dead")).toBe(false);
    });

    it("forgets a refresh record at its expiry; a forgotten record cannot be spent", async () => {
      const fx = await fixture();
      await fx.store.put(rec(fx, { hash: "short", expiresAtMs: fx.time.now() + shortMs }));
      await fx.store.put(rec(fx, { hash: "long" }));
      expect(await fx.peer.get("short")).toBeDefined();
      // Gone, or (a store that drops expired records lazily) returned with its expiry passed: never live.
      const expired = async (): Promise<boolean> => {
        const r = await fx.peer.get("short");
        return r === undefined || r.expiresAtMs <= fx.time.now();
      };
      await fx.time.after(shortMs, expired, "record expired");
      expect(await fx.peer.spend("short")).toBe(false);
      expect(await fx.peer.get("long")).toBeDefined();
      await fx.store.revokeFamily("fam1"); // an index naming an expired record is fine
      expect((await fx.store.get("long"))?.revoked).toBe(true);
    });
  });
}
