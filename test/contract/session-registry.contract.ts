import { afterEach, describe, expect, it } from "vitest";
import type { SessionRegistry, StreamOwner } from "../../src/ports/session-registry.js";
import type { TimeControl } from "./time-control.js";

export interface RegistryFixture {
  /** Node A's handle. */
  registry: SessionRegistry;
  /** Node B's handle on the same store (the same object for a one-process store). */
  peer: SessionRegistry;
  time: TimeControl;
  /** Empties the store, as a restart without persistence does. */
  wipe(): Promise<void>;
  cleanup(): Promise<void>;
}

/** The behaviour every SessionRegistry shares (memory, Redis). `make(ttlMs)` gives a fresh, empty store. */
export function sessionRegistryContract(name: string, make: (ttlMs: number) => Promise<RegistryFixture>, ttls: { long: number; short: number }): void {
  describe(`SessionRegistry contract: ${name}`, () => {
    const fixtures: RegistryFixture[] = [];
    const open = async (ttlMs = ttls.long): Promise<RegistryFixture> => {
      const fx = await make(ttlMs);
      fixtures.push(fx);
      return fx;
    };
    afterEach(async () => {
      for (const fx of fixtures.splice(0)) await fx.cleanup();
    });
    const owner = (fx: RegistryFixture, p: Partial<StreamOwner> = {}): StreamOwner => ({
      stream: "cam1",
      nodeId: "node-a",
      url: "http://a.example:8080",
      rtspUrl: "rtsp://a.example:8554",
      identity: "device:cam1",
      sessionId: "sess-1",
      state: "live",
      since: fx.time.now(),
      ...p,
    });

    it("claims a free stream, renews for the same node and session, keeps the entry as given", async () => {
      const fx = await open();
      const a = owner(fx, { since: 1_764_400_000_123 });
      expect(await fx.registry.claim(a)).toEqual({ outcome: "claimed" });
      expect(await fx.peer.get("cam1")).toEqual(a);
      expect(await fx.registry.claim({ ...a, since: a.since + 5000 })).toEqual({ outcome: "renewed" });
      expect((await fx.registry.get("cam1"))?.since).toBe(1_764_400_000_123);
      expect(await fx.registry.get("other")).toBeUndefined();
    });

    it("lets the same identity take over from another node or session, keeping the stream's age", async () => {
      const fx = await open();
      const a = owner(fx, { since: 1_764_400_000_123 });
      await fx.registry.claim(a);
      const b = owner(fx, { nodeId: "node-b", url: "http://b.example:8080", sessionId: "sess-2", since: a.since + 9000 });
      expect(await fx.peer.claim(b)).toEqual({ outcome: "taken-over", previous: a });
      expect(await fx.registry.get("cam1")).toEqual({ ...b, since: a.since });
      // A new session on the node that holds it is a takeover too: the old session must end.
      const b2 = { ...b, sessionId: "sess-3" };
      expect(await fx.peer.claim(b2)).toEqual({ outcome: "taken-over", previous: { ...b, since: a.since } });
    });

    it("refuses another identity and leaves the holder in place", async () => {
      const fx = await open();
      const a = owner(fx);
      await fx.registry.claim(a);
      const intruder = owner(fx, { nodeId: "node-b", identity: "device:other", sessionId: "sess-9" });
      expect(await fx.peer.claim(intruder)).toEqual({ outcome: "refused", holder: a });
      expect(await fx.registry.get("cam1")).toEqual(a);
    });

    it("updates state and session only for the holding node", async () => {
      const fx = await open();
      const a = owner(fx);
      await fx.registry.claim(a);
      expect(await fx.registry.update("cam1", "node-a", { state: "reconnecting" })).toBe(true);
      expect(await fx.peer.get("cam1")).toEqual({ ...a, state: "reconnecting" });
      expect(await fx.registry.update("cam1", "node-a", { state: "live", sessionId: "sess-5" })).toBe(true);
      expect(await fx.peer.get("cam1")).toEqual({ ...a, sessionId: "sess-5" });
      expect(await fx.peer.update("cam1", "node-b", { state: "reconnecting" })).toBe(false);
      expect(await fx.registry.update("absent", "node-a", { state: "live" })).toBe(false);
      expect((await fx.registry.get("cam1"))?.state).toBe("live");
    });

    it("releases only for the holding node; a released stream is free for anyone", async () => {
      const fx = await open();
      await fx.registry.claim(owner(fx));
      await fx.peer.release("cam1", "node-b");
      expect(await fx.registry.get("cam1")).toBeDefined();
      await fx.registry.release("cam1", "node-a");
      expect(await fx.registry.get("cam1")).toBeUndefined();
      expect(await fx.registry.list()).toEqual([]);
      await fx.registry.release("cam1", "node-a"); // a no-op now
      expect(await fx.peer.claim(owner(fx, { nodeId: "node-b", identity: "device:other" }))).toEqual({ outcome: "claimed" });
    });

    it("lists live and reconnecting streams by name, without released or expired ones", async () => {
      const fx = await open();
      for (const s of ["cam3", "cam1", "cam2", "gone"]) await fx.registry.claim(owner(fx, { stream: s }));
      await fx.peer.claim(owner(fx, { stream: "cam0", nodeId: "node-b", identity: "device:b" }));
      await fx.registry.update("cam2", "node-a", { state: "reconnecting" });
      await fx.registry.release("gone", "node-a");
      const listed = await fx.peer.list();
      expect(listed.map((o) => [o.stream, o.nodeId, o.state])).toEqual([
        ["cam0", "node-b", "live"],
        ["cam1", "node-a", "live"],
        ["cam2", "node-a", "reconnecting"],
        ["cam3", "node-a", "live"],
      ]);
    });

    it("expires an entry its node stops renewing within the TTL; then another identity may claim it", async () => {
      const fx = await open(ttls.short);
      await fx.registry.claim(owner(fx));
      expect(await fx.peer.get("cam1")).toBeDefined();
      if (fx.time.exact) {
        await fx.time.after(ttls.short - 1, async () => (await fx.peer.get("cam1")) !== undefined, "entry still there 1 ms before its TTL");
        await fx.time.after(1, async () => (await fx.peer.get("cam1")) === undefined, "entry gone at its TTL");
      } else {
        await fx.time.after(ttls.short, async () => (await fx.peer.get("cam1")) === undefined, "entry expired");
      }
      expect(await fx.peer.list()).toEqual([]);
      expect(await fx.peer.claim(owner(fx, { nodeId: "node-b", identity: "device:other" }))).toEqual({ outcome: "claimed" });
    });

    it("keeps entries alive across many TTLs while heartbeats renew them (and claims and updates renew too)", async () => {
      const fx = await open(ttls.short);
      const a = owner(fx);
      const b = owner(fx, { stream: "cam2" });
      await fx.registry.claim(a);
      await fx.registry.claim(b);
      const lost: string[] = [];
      let gaps = 0; // a tick that found the entry gone: it expired, so the heartbeat did not renew it
      await fx.time.during(2 * ttls.short, async () => {
        if ((await fx.peer.get("cam1")) === undefined) gaps++;
        lost.push(...(await fx.registry.heartbeat("node-a", [a, b])));
      });
      expect(lost).toEqual([]);
      expect(gaps).toBe(0);
      expect((await fx.peer.list()).map((o) => o.stream)).toEqual(["cam1", "cam2"]);
    });

    it("re-registers on heartbeat what an emptied store forgot", async () => {
      const fx = await open();
      const a = owner(fx);
      const b = owner(fx, { stream: "cam2", state: "reconnecting" });
      await fx.registry.claim(a);
      await fx.registry.claim(b);
      await fx.wipe();
      expect(await fx.peer.list()).toEqual([]);
      expect(await fx.registry.heartbeat("node-a", [a, b])).toEqual([]);
      expect(await fx.peer.list()).toEqual([a, b]);
      // and a re-registered entry refuses another identity again
      expect((await fx.peer.claim(owner(fx, { nodeId: "node-b", identity: "device:other" }))).outcome).toBe("refused");
    });

    it("reports on heartbeat the streams another node holds now, and does not touch them", async () => {
      const fx = await open(ttls.short);
      const a = owner(fx);
      const c = owner(fx, { stream: "cam3" });
      await fx.registry.claim(c);
      // cam3: node A stalled past the TTL and another identity took the free name.
      await fx.time.after(ttls.short, async () => (await fx.peer.get("cam3")) === undefined, "cam3 expired");
      const other = owner(fx, { stream: "cam3", nodeId: "node-b", identity: "device:other" });
      expect((await fx.peer.claim(other)).outcome).toBe("claimed");
      // cam1: the camera republished through node B (same identity) — a takeover.
      await fx.registry.claim(a);
      const b = owner(fx, { nodeId: "node-b", sessionId: "sess-b" });
      expect((await fx.peer.claim(b)).outcome).toBe("taken-over");
      expect((await fx.registry.heartbeat("node-a", [a, c])).sort()).toEqual(["cam1", "cam3"]);
      expect((await fx.peer.get("cam1"))?.nodeId).toBe("node-b");
      expect(await fx.peer.get("cam3")).toEqual(other);
      expect(await fx.registry.update("cam1", "node-a", { state: "reconnecting" })).toBe(false);
    });

    it("heartbeats with no streams and concurrent claims by two identities: exactly one wins", async () => {
      const fx = await open();
      expect(await fx.registry.heartbeat("node-a", [])).toEqual([]);
      for (let i = 0; i < 20; i++) {
        const stream = `race${i}`;
        const results = await Promise.all([
          fx.registry.claim(owner(fx, { stream, identity: "device:x" })),
          fx.peer.claim(owner(fx, { stream, nodeId: "node-b", identity: "device:y" })),
        ]);
        expect(results.map((r) => r.outcome).sort()).toEqual(["claimed", "refused"]);
      }
    });
  });
}
