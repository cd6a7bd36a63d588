import { EventEmitter } from "node:events";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import type { ProcessedFrame, VideoFrame } from "../../../src/generated/imageflow/v1/camera_stream.js";
import { FrameArchiver } from "../../../src/pipelines/frame-api/frame-archiver.js";
import { InvalidFrameError, NoWorkerAvailableError, WorkerLostError, type FrameApiError } from "../../../src/pipelines/frame-api/frame-errors.js";
import { FrameSession, type FrameResult, type FrameSessionOptions } from "../../../src/pipelines/frame-api/frame-session.js";
import type { FrameWorkerEndpoint, FrameWorkerPool } from "../../../src/pipelines/frame-api/frame-worker-pool.js";
import { waitFor } from "../../support/wait-for.js";

/** The worker boundary faked: calls are emitters the test answers (credits, results, failures). */
class FakeCall extends EventEmitter {
  readonly written: VideoFrame[] = [];
  cancelled = false;
  write(m: VideoFrame): void {
    this.written.push(m);
  }
  cancel(): void {
    this.cancelled = true;
  }
  grant(credits: number): void {
    this.emit("data", { sequence: 0, demand: { credits, preferredFormat: 1 }, detections: [], processingStats: {} } as unknown as ProcessedFrame);
  }
  answer(seq: number): void {
    this.emit("data", { sequence: seq, detections: [], processingTimeMs: 1, processingStats: {} } as unknown as ProcessedFrame);
  }
}

class FakePool implements FrameWorkerPool {
  readonly calls: FakeCall[] = [];
  readonly failures: string[] = [];
  outstanding = 0;
  usable: string[];
  constructor(workers: string[]) {
    this.usable = workers;
  }
  pick(): FrameWorkerEndpoint | undefined {
    const address = this.usable[0];
    if (!address) return undefined;
    return { address, breaker: { recordSuccess: () => undefined, recordFailure: (e) => void this.failures.push(`${address}: ${e.message}`) } };
  }
  open(): FakeCall {
    const c = new FakeCall();
    this.calls.push(c);
    return c;
  }
  markSent(): void {
    this.outstanding++;
  }
  markDone(_e: FrameWorkerEndpoint, n = 1): void {
    this.outstanding -= n;
  }
}

let jpeg: Buffer;
beforeAll(async () => {
  jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 100, b: 50 } } }).jpeg().toBuffer();
});

function session(pool: FakePool, opts: FrameSessionOptions = {}, extra: { archiver?: FrameArchiver; now?: () => number } = {}) {
  const results: FrameResult[] = [];
  const errors: { err: FrameApiError; seq: number }[] = [];
  const s = new FrameSession({ pool, name: "t", onResult: (r) => results.push(r), onFrameError: (err, seq) => errors.push({ err, seq }), ...extra }, opts);
  const balanced = () => {
    const st = s.stats();
    return st.received === st.processed + st.dropped + st.rejected + st.lost + st.pending + st.inFlight;
  };
  return { s, results, errors, balanced };
}
const frame = (ts: number, metadata: Record<string, string> = {}) => ({ frameData: jpeg, timestampMs: ts, metadata });

describe("FrameSession", () => {
  it("sends nothing without a credit; pending stops at maxPending and the rest is dropped and counted; credits send the oldest first", async () => {
    const pool = new FakePool(["w1"]);
    const { s, results, balanced } = session(pool, { maxPending: 3 });
    for (let i = 1; i <= 10; i++) s.accept(frame(i));
    expect(s.stats()).toMatchObject({ received: 10, dropped: 7, pending: 3, pendingHighWater: 3 });
    expect(balanced()).toBe(true);
    const call = pool.calls[0] as FakeCall;
    expect(call.written).toHaveLength(0);
    call.grant(2);
    await waitFor(() => call.written.length === 2, { what: "2 sent" });
    expect(call.written.map((w) => Number(w.sequence))).toEqual([1, 2]);
    expect(call.written[0]).toMatchObject({ width: 64, height: 48, pixelFormat: 1 });
    expect(call.written[0]?.frameData.length).toBe(64 * 48);
    call.answer(2);
    call.answer(1);
    expect(results.map((r) => r.sequence)).toEqual([2, 1]);
    expect(results[0]?.framesDropped).toBe(7);
    // The third frame waited for a credit: only now is it sent.
    expect(call.written).toHaveLength(2);
    expect(s.stats().pending).toBe(1);
    call.grant(1);
    await waitFor(() => call.written.length === 3, { what: "3rd sent" });
    call.answer(3);
    await s.idle();
    expect(s.stats()).toMatchObject({ received: 10, processed: 3, dropped: 7, pending: 0, inFlight: 0 });
    expect(pool.outstanding).toBe(0);
  });

  it("a failed worker stream: its frames are lost and reported, its breaker told, and the next worker gets a new stream", async () => {
    const pool = new FakePool(["w1", "w2"]);
    const { s, errors, balanced } = session(pool);
    s.start();
    const first = pool.calls[0] as FakeCall;
    first.grant(2);
    s.accept(frame(1));
    s.accept(frame(2));
    await waitFor(() => first.written.length === 2, { what: "2 sent" });
    pool.usable = ["w2"];
    first.emit("error", new Error("connection reset"));
    expect(first.cancelled).toBe(true);
    expect(pool.failures).toEqual(["w1: connection reset"]);
    expect(errors.map((e) => [e.seq, e.err instanceof WorkerLostError])).toEqual([[1, true], [2, true]]);
    expect(s.stats()).toMatchObject({ lost: 2, inFlight: 0, worker: "w2" });
    expect(pool.outstanding).toBe(0);
    const second = pool.calls[1] as FakeCall;
    second.grant(1);
    s.accept(frame(3));
    await waitFor(() => second.written.length === 1, { what: "sent to w2" });
    expect(balanced()).toBe(true);
    // No worker left: the next frame is refused with a retry hint, counted as rejected.
    pool.usable = [];
    second.emit("end");
    s.accept(frame(4));
    expect(errors.at(-1)?.err).toBeInstanceOf(NoWorkerAvailableError);
    expect(s.stats()).toMatchObject({ received: 4, lost: 3, rejected: 1 });
    expect(balanced()).toBe(true);
  });

  it("a worker holding a frame past resultTimeoutMs is failed at the next frame (injected clock)", async () => {
    let now = 1_000;
    const pool = new FakePool(["w1"]);
    const { s, errors } = session(pool, { resultTimeoutMs: 5_000 }, { now: () => now });
    s.start();
    const call = pool.calls[0] as FakeCall;
    call.grant(5);
    s.accept(frame(1));
    await waitFor(() => call.written.length === 1, { what: "sent" });
    now += 5_000;
    s.accept(frame(2)); // exactly at the limit: still waiting
    expect(call.cancelled).toBe(false);
    now += 1;
    s.accept(frame(3));
    expect(call.cancelled).toBe(true);
    expect(pool.failures).toEqual(["w1: no result within 5000 ms"]);
    expect(errors[0]).toMatchObject({ seq: 1 });
  });

  it("refuses a decompression bomb (maxPixels) and non-images; a PNG is fine", async () => {
    const pool = new FakePool(["w1"]);
    const { s, errors } = session(pool, { maxPixels: 64 * 48 - 1 });
    s.accept(frame(1));
    s.accept({ frameData: Buffer.from("GIF89a"), timestampMs: 2, metadata: {} });
    await waitFor(() => errors.length === 2, { what: "2 refusals" });
    expect(errors.every((e) => e.err instanceof InvalidFrameError)).toBe(true);
    const ok = session(pool, { maxPixels: 64 * 48 });
    const png = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
    ok.s.start();
    (pool.calls.at(-1) as FakeCall).grant(1);
    ok.s.accept({ frameData: png, timestampMs: 1, metadata: {} });
    await waitFor(() => (pool.calls.at(-1) as FakeCall).written.length === 1, { what: "PNG sent" });
    expect((pool.calls.at(-1) as FakeCall).written[0]?.frameData.length).toBe(64 * 48);
  });

  it("archives every Nth frame and those asking; a full archive queue drops (counted), a failing store counts failures", async () => {
    const puts: { key: string; resolve: () => void; reject: (e: Error) => void }[] = [];
    const store = { put: (key: string) => new Promise<void>((resolve, reject) => puts.push({ key, resolve, reject })) };
    const archiver = new FrameArchiver(store, { maxPendingWrites: 2 });
    const pool = new FakePool(["w1"]);
    const { s } = session(pool, { archiveEveryNth: 3, maxPending: 10 }, { archiver });
    s.accept(frame(100, { source_id: "cam-9", archive: "true" })); // 1: asked
    s.accept(frame(101, { source_id: "cam-9" })); // 2: not archived
    s.accept(frame(102, { source_id: "cam-9" })); // 3: every 3rd
    expect(puts.map((p) => p.key)).toEqual(["video-stream-archive/cam-9/100-1.jpg", "video-stream-archive/cam-9/102-3.jpg"]);
    s.accept(frame(103, { source_id: "cam-9", archive: "true" })); // 4: asked, 2 writes pending → dropped
    s.accept(frame(104, { source_id: "cam-9" })); // 5
    s.accept(frame(105, { source_id: "cam-9" })); // 6: every 3rd → dropped
    expect(archiver.stats()).toEqual({ archived: 0, dropped: 2, failed: 0, pending: 2 });
    puts[0]?.resolve();
    puts[1]?.reject(new Error("disk full"));
    await archiver.drain();
    expect(archiver.stats()).toEqual({ archived: 1, dropped: 2, failed: 1, pending: 0 });
    expect(s.stats().archiveRequested).toBe(4);
  });
});
