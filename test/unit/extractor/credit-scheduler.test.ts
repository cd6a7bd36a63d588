import { describe, expect, it } from "vitest";
import { CreditScheduler, type CreditSchedulerOptions, type Dispatch, type DropReason } from "../../../src/extractor/credit-scheduler.js";

interface Frame {
  stream: string;
  n: number;
}

function setup(opts: Partial<CreditSchedulerOptions> = {}) {
  let t = 1_000_000;
  const drops: { stream: string; n: number; reason: DropReason }[] = [];
  const starved: [string, boolean, number][] = [];
  const s = new CreditScheduler<Frame>(
    { maxSessions: 16, maxFramesPerSecond: Infinity, now: () => t, ...opts },
    {
      dropped: (stream, f, reason) => drops.push({ stream, n: f.n, reason }),
      starvedChange: (stream, v, at) => starved.push([stream, v, at]),
    },
  );
  const clock = {
    get t() {
      return t;
    },
    advance(ms: number) {
      t += ms;
    },
  };
  const ids = (d: Dispatch<Frame>[]) => d.map((x) => `${x.streamId}:${x.frame.n}`);
  return { s, clock, drops, starved, ids };
}

describe("CreditScheduler admission (max AI sessions)", () => {
  it("cap of 2: two admitted, the third refused and counted, admitted once a slot frees", () => {
    const { s } = setup({ maxSessions: 2 });
    expect(s.admit("a")).toBe(true);
    expect(s.admit("b")).toBe(true);
    expect(s.admit("c")).toBe(false);
    expect(s.isAdmitted("c")).toBe(false);
    expect(s.stats()).toMatchObject({ admitted: 2, refusedAdmissions: 1 });
    expect(s.admit("a")).toBe(true); // already in: idempotent, takes no new slot
    expect(s.stats().admitted).toBe(2);
    s.release("a");
    expect(s.admit("c")).toBe(true);
    expect(s.admit("d")).toBe(false);
    expect(s.stats()).toMatchObject({ admitted: 2, refusedAdmissions: 2 });
  });

  it("cap of 0 admits nothing (AI feed off); Infinity admits any number", () => {
    expect(setup({ maxSessions: 0 }).s.admit("a")).toBe(false);
    const { s } = setup({ maxSessions: Infinity });
    for (let i = 0; i < 500; i++) expect(s.admit(`s${i}`)).toBe(true);
  });

  it("frames for streams not admitted are ignored and counted", () => {
    const { s } = setup({ maxSessions: 1 });
    s.admit("a");
    s.admit("b");
    expect(s.offer("b", { stream: "b", n: 1 })).toEqual([]);
    expect(s.stats().rejectedFrames).toBe(1);
  });
});

describe("CreditScheduler credits", () => {
  it("never sends without a credit; keeps only the newest frame, dropping and counting older ones", () => {
    const { s, drops, starved, ids } = setup();
    s.openPool("w");
    s.admit("a", { pool: "w" });
    for (let n = 1; n <= 10; n++) expect(s.offer("a", { stream: "a", n })).toEqual([]);
    expect(s.streamStats("a")).toMatchObject({ offered: 10, sent: 0, dropped: 9, pending: 1, waiting: "credit", starved: true });
    expect(drops.map((d) => d.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(drops.every((d) => d.reason === "superseded")).toBe(true);
    expect(starved).toEqual([["a", true, expect.any(Number)]]);
    // The credit arrives: the waiting (newest) frame goes at once.
    expect(ids(s.grant("w", 1))).toEqual(["a:10"]);
    expect(s.streamStats("a")).toMatchObject({ sent: 1, pending: 0, starved: false });
    expect(starved.at(-1)).toEqual(["a", false, expect.any(Number)]);
    expect(s.credits("w")).toBe(0);
  });

  it("sends on arrival while credits last, then holds exactly one frame", () => {
    const { s, ids } = setup();
    s.openPool("w");
    s.admit("a", { pool: "w" });
    expect(ids(s.grant("w", 3))).toEqual([]); // nothing waiting yet: credits are banked
    const sent: string[] = [];
    for (let n = 1; n <= 5; n++) sent.push(...ids(s.offer("a", { stream: "a", n })));
    expect(sent).toEqual(["a:1", "a:2", "a:3"]);
    expect(s.streamStats("a")).toMatchObject({ sent: 3, dropped: 1, pending: 1 });
    expect(ids(s.grant("w", 5))).toEqual(["a:5"]);
    expect(s.credits("w")).toBe(4);
  });

  it("reports how long a frame waited", () => {
    const { s, clock } = setup();
    s.openPool("w");
    s.admit("a", { pool: "w" });
    s.offer("a", { stream: "a", n: 1 });
    clock.advance(250);
    expect(s.grant("w", 1)[0]?.waitedMs).toBe(250);
    s.grant("w", 1);
    expect(s.offer("a", { stream: "a", n: 2 })[0]?.waitedMs).toBe(0);
  });

  it("ignores grants to unknown pools and non-positive or fractional grants", () => {
    const { s } = setup();
    s.openPool("w");
    expect(s.grant("nope", 5)).toEqual([]);
    s.grant("w", 0);
    s.grant("w", -3);
    s.grant("w", 1.5);
    expect(s.credits("w")).toBe(0);
  });

  it("a closed pool voids its credits; its streams keep their newest frame, not counted as credit-starved", () => {
    const { s, ids } = setup();
    s.openPool("w1");
    s.admit("a", { pool: "w1" });
    s.grant("w1", 5);
    s.closePool("w1");
    expect(s.credits("w1")).toBe(0);
    expect(s.grant("w1", 1)).toEqual([]); // a late message from the dead session
    s.offer("a", { stream: "a", n: 1 });
    s.offer("a", { stream: "a", n: 2 });
    expect(s.streamStats("a")).toMatchObject({ pool: undefined, pending: 1, dropped: 1, waiting: "no-pool", starved: false });
    s.openPool("w2");
    expect(s.assign("a", "w2")).toEqual([]); // new session, no credits yet
    expect(s.streamStats("a")?.starved).toBe(true);
    expect(ids(s.grant("w2", 1))).toEqual(["a:2"]);
    expect(() => s.assign("a", "zzz")).toThrow(/unknown credit pool/);
  });

  it("release drops the waiting frame as 'released' and frees the slot", () => {
    const { s, drops } = setup();
    s.openPool("w");
    s.admit("a", { pool: "w" });
    s.offer("a", { stream: "a", n: 1 });
    s.release("a");
    expect(drops).toEqual([{ stream: "a", n: 1, reason: "released" }]);
    expect(s.stats()).toMatchObject({ admitted: 0, dropped: 1 });
    expect(s.streamStats("a")).toBeUndefined();
  });
});

describe("CreditScheduler shared pools: priority and round-robin", () => {
  it("higher priority gets a shared credit first", () => {
    const { s, ids } = setup();
    s.openPool("w");
    s.admit("lo", { pool: "w", priority: 0 });
    s.admit("hi", { pool: "w", priority: 10 });
    s.offer("lo", { stream: "lo", n: 1 });
    s.offer("hi", { stream: "hi", n: 1 });
    expect(ids(s.grant("w", 1))).toEqual(["hi:1"]);
    s.offer("hi", { stream: "hi", n: 2 });
    expect(ids(s.grant("w", 1))).toEqual(["hi:2"]); // strictly: lo waits while hi has frames
    expect(ids(s.grant("w", 1))).toEqual(["lo:1"]);
    s.setPriority("lo", 20);
    s.offer("hi", { stream: "hi", n: 3 });
    s.offer("lo", { stream: "lo", n: 2 });
    expect(ids(s.grant("w", 2))).toEqual(["lo:2", "hi:3"]);
  });

  it("equal priorities take turns, one credit at a time, without starving anyone", () => {
    const { s, ids } = setup();
    s.openPool("w");
    for (const id of ["a", "b", "c"]) s.admit(id, { pool: "w" });
    const order: string[] = [];
    let n = 0;
    for (let round = 0; round < 30; round++) {
      // Every stream always has a fresh frame waiting: the worst case for fairness.
      for (const id of ["a", "b", "c"]) s.offer(id, { stream: id, n: ++n });
      order.push(...ids(s.grant("w", 1)).map((x) => x.split(":")[0] as string));
    }
    expect(order.slice(0, 6)).toEqual(["a", "b", "c", "a", "b", "c"]);
    const count = (id: string) => order.filter((x) => x === id).length;
    expect([count("a"), count("b"), count("c")]).toEqual([10, 10, 10]);
  });

  it("a multi-credit grant is spread round-robin over the waiting streams", () => {
    const { s, ids } = setup();
    s.openPool("w");
    for (const id of ["a", "b", "c"]) s.admit(id, { pool: "w" });
    for (const id of ["a", "b", "c"]) s.offer(id, { stream: id, n: 1 });
    expect(ids(s.grant("w", 2))).toEqual(["a:1", "b:1"]);
    s.offer("a", { stream: "a", n: 2 });
    expect(ids(s.grant("w", 1))).toEqual(["c:1"]); // c waited longest, a went last
  });

  it("a newcomer of equal priority neither jumps the queue nor waits behind the stream just served", () => {
    const { s, ids } = setup();
    s.openPool("w");
    s.admit("a", { pool: "w" });
    s.admit("b", { pool: "w" });
    s.offer("a", { stream: "a", n: 1 });
    s.offer("b", { stream: "b", n: 1 });
    expect(ids(s.grant("w", 1))).toEqual(["a:1"]);
    s.admit("c", { pool: "w" });
    s.offer("a", { stream: "a", n: 2 });
    s.offer("c", { stream: "c", n: 1 });
    expect(ids(s.grant("w", 3))).toEqual(["b:1", "c:1", "a:2"]);
  });

  it("pools are independent: a stream's credits serve only its own pool", () => {
    const { s, ids } = setup();
    s.openPool("w1");
    s.openPool("w2");
    s.admit("a", { pool: "w1" });
    s.admit("b", { pool: "w2" });
    s.offer("a", { stream: "a", n: 1 });
    s.offer("b", { stream: "b", n: 1 });
    expect(ids(s.grant("w2", 5))).toEqual(["b:1"]);
    expect(s.streamStats("a")?.starved).toBe(true);
    expect(s.credits("w2")).toBe(4);
  });
});

describe("CreditScheduler global frame-rate cap (token bucket)", () => {
  /** Offers a frame every `everyMs` for `durationMs`, pumping whenever the scheduler asks. */
  function drive(s: CreditScheduler<Frame>, clock: { t: number; advance(ms: number): void }, streams: string[], everyMs: number, durationMs: number) {
    const sent: (Dispatch<Frame> & { atMs: number })[] = [];
    const push = (ds: Dispatch<Frame>[]) => sent.push(...ds.map((d) => ({ ...d, atMs: clock.t })));
    const end = clock.t + durationMs;
    let n = 0;
    let nextOffer = clock.t;
    for (;;) {
      if (clock.t >= nextOffer) {
        for (const id of streams) push(s.offer(id, { stream: id, n: ++n }));
        nextOffer += everyMs;
      }
      const due = s.nextPumpAtMs();
      if (due !== undefined && due <= clock.t) push(s.pump());
      if (clock.t >= end) break;
      clock.advance(1);
    }
    return sent;
  }

  it("exactly maxFramesPerSecond per second after the initial burst (10 fps, burst 1, over 10 s)", () => {
    const { s, clock } = setup({ maxFramesPerSecond: 10, burst: 1 });
    s.openPool("w");
    s.admit("a", { pool: "w" });
    s.grant("w", 1_000_000);
    const sent = drive(s, clock, ["a"], 5, 10_000); // offered at 200 fps
    expect(sent).toHaveLength(1 + 10 * 10);
    // With a burst of 1, never two sends closer than 1/rate.
    const gaps = sent.slice(1).map((d, i) => d.atMs - (sent[i] as { atMs: number }).atMs);
    expect(Math.min(...gaps)).toBe(100);
    expect(s.stats().tokens).toBe(0);
  });

  it("the cap is shared by all streams and split fairly among equals", () => {
    const { s, clock } = setup({ maxFramesPerSecond: 20, burst: 1 });
    s.openPool("w1");
    s.openPool("w2");
    for (const [id, pool] of [["a", "w1"], ["b", "w1"], ["c", "w2"], ["d", "w2"]] as const) s.admit(id, { pool });
    s.grant("w1", 1_000_000);
    s.grant("w2", 1_000_000);
    const sent = drive(s, clock, ["a", "b", "c", "d"], 10, 5000);
    expect(sent).toHaveLength(1 + 20 * 5);
    // In any 1 s window: at most burst + rate frames.
    for (const first of sent) expect(sent.filter((d) => d.atMs >= first.atMs && d.atMs < first.atMs + 1000).length).toBeLessThanOrEqual(1 + 20);
    const per = ["a", "b", "c", "d"].map((id) => sent.filter((d) => d.streamId === id).length);
    expect(Math.max(...per) - Math.min(...per)).toBeLessThanOrEqual(1);
  });

  it("the token edge: nothing 1 ms before the next token, a send exactly at it, credit kept meanwhile", () => {
    const { s, clock, ids } = setup({ maxFramesPerSecond: 4, burst: 1 }); // a token per 250 ms
    s.openPool("w");
    s.admit("a", { pool: "w" });
    s.grant("w", 2);
    expect(ids(s.offer("a", { stream: "a", n: 1 }))).toEqual(["a:1"]);
    expect(s.offer("a", { stream: "a", n: 2 })).toEqual([]);
    expect(s.streamStats("a")).toMatchObject({ waiting: "rate", starved: false, pending: 1 });
    expect(s.credits("w")).toBe(1);
    expect(s.nextPumpAtMs()).toBe(clock.t + 250);
    clock.advance(249);
    expect(s.pump()).toEqual([]);
    expect(s.nextPumpAtMs()).toBe(clock.t + 1);
    clock.advance(1);
    expect(ids(s.pump())).toEqual(["a:2"]);
    expect(s.credits("w")).toBe(0);
    expect(s.nextPumpAtMs()).toBeUndefined();
  });

  it("a burst of N lets N frames through at once, then the rate applies", () => {
    const { s, clock } = setup({ maxFramesPerSecond: 10, burst: 5 });
    s.openPool("w");
    for (const id of ["a", "b", "c", "d", "e", "f"]) s.admit(id, { pool: "w" });
    s.grant("w", 100);
    const first = ["a", "b", "c", "d", "e", "f"].flatMap((id) => s.offer(id, { stream: id, n: 1 }));
    expect(first).toHaveLength(5);
    clock.advance(99);
    expect(s.pump()).toHaveLength(0);
    clock.advance(1);
    expect(s.pump()).toHaveLength(1);
    // Tokens do not pile up beyond the burst during idle time.
    clock.advance(60_000);
    expect(s.stats().tokens).toBe(5);
  });

  it("defaults the burst to a tenth of a second of the rate, at least 1", () => {
    expect(new CreditScheduler({ maxSessions: 1, maxFramesPerSecond: 240 }).burst).toBe(24);
    expect(new CreditScheduler({ maxSessions: 1, maxFramesPerSecond: 2 }).burst).toBe(1);
  });

  it("rejects invalid limits", () => {
    expect(() => new CreditScheduler({ maxSessions: -1, maxFramesPerSecond: 1 })).toThrow(RangeError);
    expect(() => new CreditScheduler({ maxSessions: 1.5, maxFramesPerSecond: 1 })).toThrow(RangeError);
    expect(() => new CreditScheduler({ maxSessions: 1, maxFramesPerSecond: 0 })).toThrow(RangeError);
    expect(() => new CreditScheduler({ maxSessions: 1, maxFramesPerSecond: 10, burst: 0 })).toThrow(RangeError);
    const { s } = setup();
    expect(() => s.admit("a", { priority: NaN })).toThrow(RangeError);
    expect(() => s.admit("a", { pool: "never-opened" })).toThrow(/unknown credit pool/);
    expect(s.isAdmitted("a")).toBe(false);
  });
});
