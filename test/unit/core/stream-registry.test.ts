import { describe, expect, it } from "vitest";
import { Conflict } from "../../../src/core/errors.js";
import type { PublisherChange } from "../../../src/core/stream-hub.js";
import { StreamRegistry, type Publisher, type SessionStats, type StreamLifecycle } from "../../../src/core/stream-registry.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";
import { ManualTimers } from "../../support/manual-timers.js";

/** A clock and timers that move only when the test says so. */
class FakePublisher implements Publisher {
  static n = 0;
  readonly id = `sess-${++FakePublisher.n}`;
  takeovers = 0;
  frames = 0;
  constructor(
    readonly identity: string,
    private readonly lastMedia = 0,
  ) {}
  stats(): SessionStats {
    return { protocol: "whip", sessionId: this.id, since: 5, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: this.frames, framesDropped: 0, keyframeRequests: 0 };
  }
  lastMediaAt(): number {
    return this.lastMedia;
  }
  takenOver(): void {
    this.takeovers++;
  }
}

const GRACE = 15_000;

function setup(graceMs = GRACE) {
  const timers = new ManualTimers();
  const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 16, reconnectGraceMs: graceMs, rtpMaxJumpMs: 2000, timers });
  const events: StreamLifecycle[] = [];
  const started: string[] = [];
  const ended: string[] = [];
  registry.onLifecycle((e) => events.push(e));
  registry.onStarted((s) => started.push(s.name));
  registry.onEnded((s) => ended.push(s.name));
  /** A publisher that claimed `name` and connected. */
  const live = (name: string, identity = "user:ann") => {
    const pub = new FakePublisher(identity, timers.now());
    const { stream } = registry.claim(name, pub, {});
    registry.connected(stream, pub.id);
    return { pub, stream };
  };
  return { timers, registry, events, started, ended, live };
}

describe("StreamRegistry: a stream outlives its publisher session", () => {
  it("a gone publisher leaves the stream reconnecting for the grace period, then it is released (hub closed, unpublished)", () => {
    const { timers, registry, events, ended, live } = setup();
    const { pub, stream } = live("cam");
    expect(stream.stats().state).toBe("live");
    const closed: boolean[] = [];
    stream.hub.onClose(() => closed.push(true));

    registry.sessionEnded(stream, pub.id, "rtp-timeout");
    expect(registry.get("cam")).toBe(stream);
    const st = stream.stats();
    expect(st.state).toBe("reconnecting");
    expect(st.reconnectingSince).toBe(timers.now());
    expect(events.map((e) => [e.type, e.reason])).toEqual([["published", undefined], ["reconnecting", "rtp-timeout"]]);

    timers.advance(GRACE - 1);
    expect(registry.get("cam")).toBe(stream);
    expect(stream.hub.isClosed).toBe(false);
    timers.advance(1);
    expect(registry.get("cam")).toBeUndefined();
    expect(stream.hub.isClosed).toBe(true);
    expect(closed).toEqual([true]);
    expect(ended).toEqual(["cam"]);
    expect(events.at(-1)).toMatchObject({ type: "unpublished", reason: "grace-expired", stream: "cam" });
  });

  it("grace 0 ends the stream at once, as before reconnects existed", () => {
    const { registry, events, live } = setup(0);
    const { pub, stream } = live("cam");
    registry.sessionEnded(stream, pub.id, "ice-failed");
    expect(registry.get("cam")).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(["published", "unpublished"]);
    expect(events.at(-1)?.reason).toBe("ice-failed");
  });

  it("a session that never connected frees the name at once, whatever the grace", () => {
    const { registry, events, timers } = setup();
    const pub = new FakePublisher("user:ann");
    const { stream } = registry.claim("cam", pub, {});
    expect(stream.stats().state).toBe("connecting");
    registry.sessionEnded(stream, pub.id, "connect-timeout");
    expect(registry.get("cam")).toBeUndefined();
    expect(events).toEqual([]); // never published, so nothing to unpublish
    expect(timers.armed).toBe(0);
  });

  it("a new POST from the same identity resumes a reconnecting stream: same hub, publisherChanged, timelines rebased, resumed on connect", () => {
    const { timers, registry, events, started, live } = setup();
    const { pub: first, stream } = live("cam");
    const changes: PublisherChange[] = [];
    stream.hub.onPublisherChanged((c) => changes.push(c));
    // A unit through the timeline before the break
    stream.timelines.video.map(0, timers.now());
    const lastMedia = first.lastMediaAt();
    registry.sessionEnded(stream, first.id, "ice-disconnected");
    timers.advance(5000);

    const second = new FakePublisher("user:ann");
    const claimed = registry.claim("cam", second, {});
    expect(claimed.stream).toBe(stream);
    expect(claimed.resumed).toBe("re-post");
    expect(timers.armed).toBe(0); // the grace timer is cancelled
    expect(changes).toEqual([{ sessionId: second.id, reason: "re-post", lastMediaAt: lastMedia }]);
    expect(stream.sessionId).toBe(second.id);
    expect(stream.stats().state).toBe("reconnecting"); // until it connects

    registry.connected(stream, second.id);
    const st = stream.stats();
    expect(st.state).toBe("live");
    expect(st.reconnects).toBe(1);
    expect(st.reconnectingSince).toBeUndefined();
    expect(started).toEqual(["cam"]); // readers were announced once, not again
    expect(events.map((e) => [e.type, e.reason, e.sessionId])).toEqual([
      ["published", undefined, first.id],
      ["reconnecting", "ice-disconnected", first.id],
      ["resumed", "re-post", second.id],
    ]);
    // The new session's first unit continues the timeline by the 5 s that passed, as a discontinuity
    const t = stream.timelines.video.map(123_456, timers.now());
    expect(stream.timelines.video.discontinuity).toBe(true);
    expect(t).toBe(5000 * 90);
    // The previous session is always told to end (a no-op for one that has ended, as this one had).
    expect(first.takeovers).toBe(1);
  });

  it("a new session that does not connect leaves the resumed stream to its grace again", () => {
    const { timers, registry, live } = setup();
    const { pub, stream } = live("cam");
    registry.sessionEnded(stream, pub.id, "rtp-timeout");
    const second = new FakePublisher("user:ann");
    registry.claim("cam", second, {});
    registry.sessionEnded(stream, second.id, "connect-timeout");
    expect(registry.get("cam")).toBe(stream);
    timers.advance(GRACE);
    expect(registry.get("cam")).toBeUndefined();
  });

  it("a POST from the same identity on a live stream takes it over at once: the old session is told to end, the stream is not released", () => {
    const { registry, events, live, ended } = setup();
    const { pub: first, stream } = live("cam");
    const changes: PublisherChange[] = [];
    stream.hub.onPublisherChanged((c) => changes.push(c));
    const second = new FakePublisher("user:ann");
    const claimed = registry.claim("cam", second, {});
    expect(claimed.resumed).toBe("takeover");
    expect(first.takeovers).toBe(1);
    expect(changes.map((c) => c.reason)).toEqual(["takeover"]);
    // The old session's end (as it reacts to takenOver) changes nothing
    registry.sessionEnded(stream, first.id, "deleted");
    expect(registry.get("cam")).toBe(stream);
    expect(ended).toEqual([]);
    registry.connected(stream, second.id);
    expect(stream.stats()).toMatchObject({ state: "live", reconnects: 1, sessionId: second.id });
    expect(events.map((e) => [e.type, e.reason])).toEqual([["published", undefined], ["reconnecting", "taken-over"], ["resumed", "takeover"]]);
  });

  it("another identity gets 409 on a live and on a reconnecting stream, and the stream is untouched", () => {
    const { registry, live } = setup();
    const { pub, stream } = live("cam");
    expect(() => registry.claim("cam", new FakePublisher("user:bob"), {})).toThrow(Conflict);
    expect(pub.takeovers).toBe(0);
    registry.sessionEnded(stream, pub.id, "rtcp-timeout");
    expect(() => registry.claim("cam", new FakePublisher("publish-key:k1"), {})).toThrow(Conflict);
    expect(stream.stats().state).toBe("reconnecting");
    expect(stream.sessionId).toBe(pub.id);
  });

  it("DELETE by the publisher ends the stream at once, with no grace", () => {
    const { timers, registry, events, live } = setup();
    const { pub, stream } = live("cam");
    registry.sessionEnded(stream, pub.id, "deleted");
    expect(registry.get("cam")).toBeUndefined();
    expect(stream.hub.isClosed).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "unpublished", reason: "deleted" });
    expect(timers.armed).toBe(0);
  });

  it("shutdown and kick end a reconnecting stream at once and cancel its grace", () => {
    const { timers, registry, events, live } = setup();
    const a = live("a");
    const b = live("b");
    registry.sessionEnded(a.stream, a.pub.id, "rtp-timeout");
    registry.sessionEnded(b.stream, b.pub.id, "ice-failed");
    expect(timers.armed).toBe(2);
    registry.release(a.stream, "shutdown");
    registry.release(b.stream, "kicked");
    expect(registry.list()).toEqual([]);
    expect(timers.armed).toBe(0);
    expect(events.filter((e) => e.type === "unpublished").map((e) => [e.stream, e.reason])).toEqual([["a", "shutdown"], ["b", "kicked"]]);
    timers.advance(GRACE); // nothing left to fire
    expect(events.filter((e) => e.type === "unpublished")).toHaveLength(2);
  });

  it("ICE disconnected shows reconnecting while the session lives; ICE back makes it live again (one reconnect)", () => {
    const { registry, events, live } = setup();
    const { pub, stream } = live("cam");
    registry.interrupted(stream, pub.id, "ice-disconnected");
    expect(stream.stats().state).toBe("reconnecting");
    registry.resumed(stream, pub.id, "ice-restart");
    expect(stream.stats()).toMatchObject({ state: "live", reconnects: 1 });
    expect(events.map((e) => [e.type, e.reason])).toEqual([["published", undefined], ["reconnecting", "ice-disconnected"], ["resumed", "ice-restart"]]);
  });

  it("a reconnecting stream reports the figures its publisher had when it left", () => {
    const { registry, live } = setup();
    const { pub, stream } = live("cam");
    pub.frames = 42;
    registry.sessionEnded(stream, pub.id, "rtp-timeout");
    pub.frames = 0; // a torn-down session's counters mean nothing now
    expect(stream.stats()).toMatchObject({ framesReceived: 42, state: "reconnecting", sessionId: pub.id });
  });

  it("the publisher limit counts reconnecting streams (they still hold their name)", () => {
    const timers = new ManualTimers();
    const registry = new StreamRegistry({ maxStreams: 1, readerQueueFrames: 16, reconnectGraceMs: GRACE, timers });
    const pub = new FakePublisher("user:ann");
    const { stream } = registry.claim("a", pub, {});
    registry.connected(stream, pub.id);
    registry.sessionEnded(stream, pub.id, "rtp-timeout");
    expect(() => registry.claim("b", new FakePublisher("user:ann"), {})).toThrow(/IFC_MAX_PUBLISHERS/);
    timers.advance(GRACE);
    expect(registry.claim("b", new FakePublisher("user:ann"), {}).stream.name).toBe("b");
  });

  it("frames published after a resume reach the readers attached before the break", async () => {
    const { registry, live } = setup();
    const { pub, stream } = live("cam");
    const got: number[] = [];
    stream.hub.attach("rec", (f) => {
      got.push(f.rtpTime);
    });
    registry.sessionEnded(stream, pub.id, "rtp-timeout");
    const second = new FakePublisher("user:ann");
    registry.claim("cam", second, {});
    registry.connected(stream, second.id);
    const au: VideoAccessUnit = { kind: "video", codec: "h264", rtpTime: 7, arrivalMs: 0, wallClockMs: 0, isKeyframe: true, nalus: [] };
    stream.hub.publish(au);
    await stream.hub.drain();
    expect(got).toEqual([7]);
  });

  it("a lost session that still lives: reconnecting with a grace period, its media back resumes it, a new POST takes it over", () => {
    const { timers, registry, events, live } = setup();
    const { pub, stream } = live("cam-lost");
    registry.lost(stream, pub.id, "rtp-timeout");
    expect(stream.stats().state).toBe("reconnecting");
    // Its media comes back within the grace: the same session resumes, the grace is cancelled.
    timers.advance(GRACE - 1);
    registry.resumed(stream, pub.id, "ice-recovered");
    expect(stream.stats().state).toBe("live");
    timers.advance(GRACE);
    expect(registry.get("cam-lost")).toBe(stream);
    expect(timers.armed).toBe(0);
    // Lost again, then a new POST from the same identity: the waiting session is told to end.
    registry.lost(stream, pub.id, "ice-disconnected");
    const next = new FakePublisher("user:ann", timers.now());
    expect(registry.claim("cam-lost", next, {}).resumed).toBe("re-post");
    expect(pub.takeovers).toBe(1);
    expect(events.map((e) => [e.type, e.reason])).toEqual([
      ["published", undefined], ["reconnecting", "rtp-timeout"], ["resumed", "ice-recovered"], ["reconnecting", "ice-disconnected"],
    ]);
  });

  it("a lost session whose grace runs out: released at exactly the grace, once, even when the session ends meanwhile", () => {
    const { timers, registry, events, live } = setup();
    const { pub, stream } = live("cam-lost2");
    registry.lost(stream, pub.id, "rtcp-timeout");
    timers.advance(GRACE / 2);
    // The session ends later (ICE failed): the grace keeps its first deadline.
    registry.sessionEnded(stream, pub.id, "ice-failed");
    timers.advance(GRACE / 2 - 1);
    expect(registry.get("cam-lost2")).toBe(stream);
    timers.advance(1);
    expect(registry.get("cam-lost2")).toBeUndefined();
    expect(stream.hub.isClosed).toBe(true);
    expect(events.filter((e) => e.type === "unpublished").map((e) => e.reason)).toEqual(["grace-expired"]);
  });

  it("a lost session with grace 0 ends the stream at once", () => {
    const { registry, live } = setup(0);
    const { pub, stream } = live("cam-lost3");
    registry.lost(stream, pub.id, "rtp-timeout");
    expect(registry.get("cam-lost3")).toBeUndefined();
  });
});
