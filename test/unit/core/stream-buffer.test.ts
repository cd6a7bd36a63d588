import { describe, expect, it } from "vitest";
import { StreamBuffer } from "../../../src/core/stream-buffer.js";
import type { AudioFrame, MediaFrame, VideoAccessUnit } from "../../../src/media/types.js";

/** A video unit of `bytes` payload bytes at wall clock `ms` (30 fps in these tests: 33 ms apart). */
const video = (ms: number, isKeyframe: boolean, bytes = 100): VideoAccessUnit => ({
  kind: "video", codec: "h264", nalus: [new Uint8Array(bytes)], isKeyframe, rtpTime: ms * 90, arrivalMs: ms, wallClockMs: ms,
});
const audio = (ms: number, bytes = 10): AudioFrame => ({ kind: "audio", codec: "opus", data: new Uint8Array(bytes), rtpTime: ms * 48, arrivalMs: ms, wallClockMs: ms });

/** `seconds` of 10 fps video with an IDR every `gopMs`, starting at `t0`. */
function feed(buf: StreamBuffer, t0: number, seconds: number, gopMs: number, bytes = 100): VideoAccessUnit[] {
  const out: VideoAccessUnit[] = [];
  for (let ms = t0; ms < t0 + seconds * 1000; ms += 100) {
    const f = video(ms, (ms - t0) % gopMs === 0, bytes);
    buf.append(f);
    out.push(f);
  }
  return out;
}

const firstMs = (frames: MediaFrame[]): number | undefined => frames[0]?.wallClockMs;

describe("StreamBuffer", () => {
  it("keeps the GOP reaching back IFC_STREAM_BUFFER_MS from the newest frame, and no older one", () => {
    const buf = new StreamBuffer({ maxMs: 3000, maxBytes: 1 << 30 });
    feed(buf, 0, 10, 1000); // IDRs at 0, 1000, ... 9000; newest frame at 9900
    // 9900 - 3000 = 6900: the GOP from 6000 covers it; the one at 7000 would not.
    expect(firstMs(buf.snapshotFrom(0))).toBe(6000);
    expect(buf.stats.frames).toBe(40);
    expect(buf.stats.durationMs).toBe(3900);
    expect(buf.stats.evictions).toBe(6);
    expect(buf.stats.evictedFrames).toBe(60);
  });

  it("at the time bound's edge: a GOP starting exactly maxMs before the newest frame is enough", () => {
    const buf = new StreamBuffer({ maxMs: 3000, maxBytes: 1 << 30 });
    feed(buf, 0, 10, 1000);
    buf.append(video(10_000, true)); // 10000 - 3000 = 7000: the GOP at 7000 covers it exactly
    expect(firstMs(buf.snapshotFrom(0))).toBe(7000);
    buf.append(video(10_100, false));
    expect(firstMs(buf.snapshotFrom(0))).toBe(7000);
  });

  it("always keeps the newest GOP, even when it is longer than the time bound", () => {
    const buf = new StreamBuffer({ maxMs: 1000, maxBytes: 1 << 30 });
    feed(buf, 0, 12, 4000); // IDRs at 0, 4000, 8000; 4 s GOPs against a 1 s bound
    const held = buf.snapshotFrom(0);
    expect(firstMs(held)).toBe(8000);
    expect(held).toHaveLength(40);
    expect(buf.lastGop()).toEqual(held);
  });

  it("maxMs 0 keeps exactly the newest GOP", () => {
    const buf = new StreamBuffer({ maxMs: 0, maxBytes: 1 << 30 });
    feed(buf, 0, 3, 1000);
    expect(firstMs(buf.snapshotFrom(0))).toBe(2000);
    expect(buf.stats.frames).toBe(10);
  });

  it("holds no more than the byte cap, evicting the oldest whole GOPs", () => {
    // 10 frames of 100 bytes per GOP: 1000 bytes a GOP; a 2500-byte cap holds two GOPs and a half.
    const buf = new StreamBuffer({ maxMs: 60_000, maxBytes: 2500 });
    const sent = feed(buf, 0, 10, 1000, 100);
    const held = buf.snapshotFrom(0);
    expect(buf.stats.bytes).toBeLessThanOrEqual(2500);
    expect(buf.stats.bytes).toBe(2000);
    expect(held).toEqual(sent.slice(80)); // whole GOPs, the newest ones, by reference
    expect(held[0]).toBe(sent[80]);
    // at the edge: exactly the cap is allowed
    const exact = new StreamBuffer({ maxMs: 60_000, maxBytes: 2000 });
    feed(exact, 0, 2, 1000, 100);
    expect(exact.stats.bytes).toBe(2000);
    expect(exact.stats.evictions).toBe(0);
    exact.append(video(2000, true, 1));
    expect(exact.stats.bytes).toBe(1001);
    expect(exact.stats.evictions).toBe(1);
  });

  it("a newest GOP larger than the byte cap is not kept at all, and nothing is kept until the next IDR", () => {
    const buf = new StreamBuffer({ maxMs: 60_000, maxBytes: 550 });
    feed(buf, 0, 1, 1000, 100); // 10 × 100 bytes in one GOP > 550
    expect(buf.stats.bytes).toBeLessThanOrEqual(550);
    expect(buf.snapshotFrom(0)).toEqual([]);
    buf.append(video(1000, false));
    expect(buf.stats.frames).toBe(0);
    buf.append(video(1100, true));
    expect(firstMs(buf.lastGop())).toBe(1100);
    expect(buf.stats.skipped).toBeGreaterThan(0);
  });

  it("snapshotFrom picks the IDR at or before the time asked, or the oldest held", () => {
    const buf = new StreamBuffer({ maxMs: 60_000, maxBytes: 1 << 30 });
    feed(buf, 5000, 5, 1000); // IDRs at 5000..9000
    expect(firstMs(buf.snapshotFrom(7000))).toBe(7000); // at
    expect(firstMs(buf.snapshotFrom(6999))).toBe(6000); // before
    expect(firstMs(buf.snapshotFrom(7999))).toBe(7000);
    expect(firstMs(buf.snapshotFrom(1000))).toBe(5000); // older than anything held
    expect(firstMs(buf.snapshotFrom(50_000))).toBe(9000); // in the future: the newest IDR
    const s = buf.snapshotFrom(7000);
    expect(s.at(-1)?.wallClockMs).toBe(9900);
    expect(s).toHaveLength(30);
  });

  it("frames before the first IDR are not kept; audio rides along between IDRs, in publish order", () => {
    const buf = new StreamBuffer({ maxMs: 60_000, maxBytes: 1 << 30 });
    buf.append(audio(0));
    buf.append(video(10, false));
    const order = [video(100, true), audio(110), video(133, false), audio(130)];
    for (const f of order) buf.append(f);
    expect(buf.snapshotFrom(0)).toEqual(order);
    expect(buf.stats.skipped).toBe(2);
    expect(buf.stats.bytes).toBe(100 + 10 + 100 + 10);
  });

  it("keeps a discontinuity flag as is", () => {
    const buf = new StreamBuffer({ maxMs: 60_000, maxBytes: 1 << 30 });
    buf.append(video(0, true));
    const resumed: VideoAccessUnit = { ...video(5000, true), discontinuity: true };
    buf.append(resumed);
    expect(buf.snapshotFrom(0)[1]).toBe(resumed);
  });

  it("an audio-only stream: every audio frame is a random-access point", () => {
    const buf = new StreamBuffer({ maxMs: 100, maxBytes: 1 << 30, audioOnly: true });
    for (let ms = 0; ms <= 1000; ms += 20) buf.append(audio(ms));
    expect(firstMs(buf.snapshotFrom(0))).toBe(900);
    expect(firstMs(buf.snapshotFrom(950))).toBe(940);
  });

  it("grows past its initial ring size and keeps order across wrap-around", () => {
    const buf = new StreamBuffer({ maxMs: 1_000_000, maxBytes: 1 << 30 });
    const sent = feed(buf, 0, 200, 2000, 1); // 2000 frames, more than the initial 256 slots, 100 GOPs
    expect(buf.snapshotFrom(0)).toEqual(sent);
    const small = new StreamBuffer({ maxMs: 1000, maxBytes: 1 << 30 });
    const sent2 = feed(small, 0, 200, 1000, 1); // wraps the ring many times
    expect(small.snapshotFrom(0)).toEqual(sent2.slice(-20));
  });
});
