import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemorySessionRegistry } from "../../../src/adapters/state/memory-session-registry.js";
import { ClusterNode } from "../../../src/cluster/cluster-node.js";
import { CapacityExceeded, Conflict } from "../../../src/core/errors.js";
import { StreamRegistry, type SessionStats } from "../../../src/core/stream-registry.js";
import type { SessionRegistry } from "../../../src/ports/session-registry.js";
import { ManualTimers } from "../../support/manual-timers.js";

const log = pino({ level: "silent" });

/** What `p` rejected with; fulfilling fails the test. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}
const HEARTBEAT = 1000;
const stats = (): SessionStats => ({ protocol: "whip", sessionId: "s", since: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

/** Two nodes' registries over one shared (in-memory) stream registry, on one manual clock. */
function cluster() {
  const timers = new ManualTimers();
  const shared = new MemorySessionRegistry({ ttlMs: 3 * HEARTBEAT, now: () => timers.now() });
  const node = (id: string, owners: SessionRegistry = shared) => {
    const streams = new StreamRegistry({ maxStreams: 8, readerQueueFrames: 8, reconnectGraceMs: 5000, timers });
    const n = new ClusterNode(owners, streams, { nodeId: id, url: () => `http://${id}.example:8080`, heartbeatMs: HEARTBEAT, timers }, log);
    n.install();
    n.start();
    /** What ingest does: admit through the cluster, then claim locally and go live. */
    const publish = async (name: string, identity: string, sessionId: string) => {
      await streams.admit(name, identity, sessionId);
      const live = streams.claim(name, { id: sessionId, identity, stats, lastMediaAt: () => timers.now(), takenOver: () => undefined }, { video: { codec: "h264" } });
      streams.connected(live.stream, sessionId);
      return live.stream;
    };
    return { id, streams, node: n, publish };
  };
  /** Lets the shared registry's promise chains settle (the memory registry answers in microtasks). */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  const beat = async () => {
    timers.advance(HEARTBEAT);
    await settle();
  };
  return { timers, shared, node, settle, beat };
}

describe("ClusterNode: one publisher per stream over every node", () => {
  it("refuses another identity's publish on another node (Conflict naming the owner) and lists the stream on both", async () => {
    const c = cluster();
    const a = c.node("a");
    const b = c.node("b");
    await a.publish("cam", "user:alice", "sa");
    await c.settle();
    const err = await rejection(b.publish("cam", "user:mallory", "sb"));
    expect(err).toBeInstanceOf(Conflict);
    expect((err as Conflict).details).toMatchObject({ stream: "cam", node: "a" });
    expect(b.streams.get("cam")).toBeUndefined();
    expect(await b.node.ownerElsewhere("cam")).toMatchObject({ nodeId: "a", url: "http://a.example:8080", state: "live", sessionId: "sa" });
    expect(await a.node.ownerElsewhere("cam")).toBeUndefined(); // a owns it: nothing to redirect to
    expect((await b.node.list()).map((o) => o.stream)).toEqual(["cam"]);
  });

  it("the same identity through another node takes the stream over; the old node ends its copy at its next beat (reason moved)", async () => {
    const c = cluster();
    const a = c.node("a");
    const b = c.node("b");
    const onA = await a.publish("cam", "user:alice", "sa");
    const ended: string[] = [];
    a.streams.onLifecycle((e) => {
      if (e.type === "unpublished") ended.push(e.reason ?? "");
    });
    await c.settle();
    await b.publish("cam", "user:alice", "sb");
    await c.settle();
    expect(await c.shared.get("cam")).toMatchObject({ nodeId: "b", sessionId: "sb" });
    expect(a.streams.get("cam")).toBe(onA); // not yet: a learns at its heartbeat
    await c.beat();
    expect(a.streams.get("cam")).toBeUndefined();
    expect(ended).toEqual(["moved"]);
    expect(b.streams.get("cam")?.state).toBe("live");
    expect(await c.shared.get("cam")).toMatchObject({ nodeId: "b" }); // a's release did not remove b's entry
  });

  it("mirrors reconnecting and unpublished; a dead node's streams expire within the TTL and another identity may then publish", async () => {
    const c = cluster();
    const a = c.node("a");
    const b = c.node("b");
    const live = await a.publish("cam", "user:alice", "sa");
    await c.settle();
    a.streams.lost(live, "sa", "ice-failed");
    await c.settle();
    expect(await c.shared.get("cam")).toMatchObject({ state: "reconnecting" });
    a.streams.release(live, "deleted");
    await c.settle();
    expect(await c.shared.get("cam")).toBeUndefined();

    await a.publish("dock", "user:alice", "sa2");
    await c.settle();
    await a.node.close(); // the node stops beating (as if it died); its entry lives out the TTL
    await c.shared.claim({ stream: "dock2", nodeId: "x", url: "", identity: "i", sessionId: "x", state: "live", since: 0 }); // (unrelated entry, keeps the map busy)
    c.timers.advance(3 * HEARTBEAT + 1);
    await c.settle();
    await b.publish("dock", "user:bob", "sb");
    expect(b.streams.get("dock")?.state).toBe("live");
  });

  it("an admission whose local claim never came (a failed offer) is released at the next beat", async () => {
    const c = cluster();
    const a = c.node("a");
    const b = c.node("b");
    await a.streams.admit("cam", "user:alice", "sa"); // admitted; the offer then failed, nothing claimed
    await c.settle();
    expect(await rejection(b.publish("cam", "user:bob", "sb"))).toBeInstanceOf(Conflict);
    await c.beat();
    await c.beat();
    await b.publish("cam", "user:bob", "sb2");
    expect(b.streams.get("cam")).toBeDefined();
  });

  it("writes its streams back at the next beat when the store lost them (restarted empty)", async () => {
    const c = cluster();
    const a = c.node("a");
    await a.publish("cam", "user:alice", "sa");
    await c.settle();
    await c.shared.release("cam", "a"); // what an empty restart looks like from here
    expect(await c.shared.get("cam")).toBeUndefined();
    await c.beat();
    expect(await c.shared.get("cam")).toMatchObject({ nodeId: "a", identity: "user:alice", state: "live" });
  });

  it("refuses publishes with 503's domain error while the shared store is unreachable, and keeps live streams up", async () => {
    const c = cluster();
    let down = false;
    const flaky: SessionRegistry = new Proxy(c.shared, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => (down ? Promise.reject(new Error("connection refused")) : (v as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const a = c.node("a", flaky);
    await a.publish("cam", "user:alice", "sa");
    await c.settle();
    down = true;
    const err = await rejection(a.publish("dock", "user:alice", "sd"));
    expect(err).toBeInstanceOf(CapacityExceeded);
    expect((err as CapacityExceeded).slug).toBe("cluster-state-unavailable");
    await c.beat(); // a failed beat ends nothing
    expect(a.streams.get("cam")?.state).toBe("live");
    down = false;
    await a.publish("dock", "user:alice", "sd2");
    expect(a.streams.get("dock")).toBeDefined();
  });

  it("a pulled camera is one node's: the same source on another node is refused, not taken over back and forth", async () => {
    const c = cluster();
    const a = c.node("a");
    const b = c.node("b");
    await a.publish("gate", "source:gate", "pa");
    await c.settle();
    expect(await rejection(b.publish("gate", "source:gate", "pb"))).toBeInstanceOf(Conflict);
  });
});
