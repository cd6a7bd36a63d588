import { describe, expect, it } from "vitest";
import type { RtpHeader } from "werift";
import { StreamHub, type TappedRtpPacket } from "../../../../src/core/stream-hub.js";
import { RtpRing } from "../../../../src/distributor/whep/rtp-ring.js";
import { StreamFanout } from "../../../../src/distributor/whep/stream-fanout.js";
import { ViewerForwarder, type CatchUp, type RtpOutput, type WhepJoin } from "../../../../src/distributor/whep/viewer-forwarder.js";

const IDR = 0x65;
const SLICE = 0x41;

interface Sent { seq: number; ts: number; payload: number }

class FakeOutput implements RtpOutput {
  sent: Sent[] = [];
  sendRtp(payload: Buffer, h: RtpHeader): Promise<unknown> {
    this.sent.push({ seq: h.sequenceNumber, ts: h.timestamp, payload: payload[1] ?? -1 });
    return Promise.resolve();
  }
}

function pkt(seq: number, timestamp: number, payload: number[], ssrc: number, size = payload.length): TappedRtpPacket {
  const b = Buffer.alloc(Math.max(size, payload.length));
  b.set(payload);
  return { header: { sequenceNumber: seq & 0xffff, timestamp: timestamp >>> 0, marker: true, ssrc, payloadType: 96 }, payload: b };
}

/**
 * A synthetic stream: 30 fps video (one packet a frame, its 2nd payload byte the frame number's
 * low byte) and 50 packets/s Opus, on an injected clock, with a settable SSRC and RTP bases (a
 * publisher session).
 */
function setup(join: WhepJoin, catchUp: CatchUp = "fast-forward", frameBytes = 2) {
  const clock = { now: 1_000_000 };
  const video = new RtpRing({ minPackets: 64, maxAgeMs: 10_000, maxBytes: 1 << 20 }, true, () => clock.now);
  const audio = new RtpRing({ minPackets: 64, maxAgeMs: 10_000, maxBytes: 1 << 20 }, false, () => clock.now);
  const out = new FakeOutput();
  const audioOut = new FakeOutput();
  const requests: string[] = [];
  const fwd = new ViewerForwarder(
    { ring: video, out, ssrc: 1111, payloadType: 102, clockRate: 90000 },
    { ring: audio, out: audioOut, ssrc: 2222, payloadType: 111, clockRate: 48000 },
    (r) => requests.push(r),
    () => undefined,
    { join, catchUp, now: () => clock.now },
  );
  const pub = { ssrc: 1, seqBase: 100, tsBase: 5000, audioSeqBase: 7, audioTsBase: 0, frame: 0, audioPacket: 0 };
  /** Frames at 30 fps with audio interleaved; `gop` frames between IDRs, counted within the session. */
  const run = (frames: number, gop: number): void => {
    for (let i = 0; i < frames; i++) {
      const n = pub.frame++;
      video.push(pkt(pub.seqBase + n, pub.tsBase + n * 3000, [n % gop === 0 ? IDR : SLICE, n & 0xff], pub.ssrc, frameBytes));
      // audio every 20 ms: 5 packets per 3 frames
      while (pub.audioPacket * 20 <= (n + 1) * 33.3) {
        const a = pub.audioPacket++;
        audio.push(pkt(pub.audioSeqBase + a, pub.audioTsBase + a * 960, [0xfc, a & 0xff], pub.ssrc + 1000));
      }
      clock.now += 33;
    }
  };
  /** A new publisher session: new SSRC, unrelated sequence numbers and timestamps. */
  const newPublisher = (gapMs: number): void => {
    clock.now += gapMs;
    Object.assign(pub, { ssrc: pub.ssrc + 1, seqBase: 40_000, tsBase: 3_000_000_000, audioSeqBase: 9_000, audioTsBase: 77_777, frame: 0, audioPacket: 0 });
  };
  return { clock, video, audio, out, audioOut, requests, fwd, run, newPublisher };
}

const contiguous = (s: Sent[]): boolean => s.every((x, i) => i === 0 || x.seq === (((s[i - 1] as Sent).seq + 1) & 0xffff));
const increasing = (s: Sent[]): boolean => s.every((x, i) => i === 0 || ((x.ts - (s[i - 1] as Sent).ts) >>> 0) < 0x80000000);

describe("ViewerForwarder: cached-GOP join (IFC_WHEP_JOIN)", () => {
  it("cached-gop starts at once from the last cached IDR, sends no keyframe request, and fast-forwards the GOP's timestamps", () => {
    const { out, audioOut, requests, fwd, run } = setup("cached-gop");
    run(100, 120); // one IDR at frame 0, 3.3 s ago
    fwd.start();
    fwd.pump();
    expect(requests).toEqual([]);
    expect(fwd.stats.cachedJoins).toBe(1);
    expect(fwd.firstKeyframeAt).toBeDefined();
    expect(out.sent.map((s) => s.payload)).toEqual([...Array(100).keys()]);
    expect(contiguous(out.sent)).toBe(true);
    // 99 frames (3.3 s of media) squeezed into ~100 ms of timestamps
    const span = ((out.sent[99] as Sent).ts - (out.sent[0] as Sent).ts) >>> 0;
    expect(span).toBeGreaterThan(0);
    expect(span).toBeLessThanOrEqual(100 * 90 + 1);
    expect(increasing(out.sent)).toBe(true);
    // audio starts at the live edge, not with the cached GOP
    expect(audioOut.sent).toEqual([]);
    run(3, 120);
    fwd.pump();
    // live frames run at their own pace from the squeezed end on
    const live = out.sent.slice(100);
    expect(live.map((s) => ((s.ts - (out.sent[99] as Sent).ts) >>> 0))).toEqual([3000, 6000, 9000]);
    expect(audioOut.sent.length).toBeGreaterThan(0);
  });

  it("fast-forward paces the cached GOP (token bucket, ≥ 4× the stream's rate), then sends live packets as they come", () => {
    // 5000-byte frames at 30 fps: 150 bytes/ms, so the floor (1000 bytes/ms) is the rate
    const { out, fwd, run, clock } = setup("cached-gop", "fast-forward", 5000);
    run(60, 120);
    fwd.start();
    fwd.pump();
    // the bucket (16 KiB) lets 3 frames go at once
    expect(out.sent.length).toBe(3);
    fwd.pump();
    expect(out.sent.length).toBe(3); // no time passed, no tokens
    clock.now += 10; // 10 000 bytes of tokens: two more frames
    fwd.pump();
    expect(out.sent.length).toBe(5);
    clock.now += 1000; // the bucket caps what a long pause earns: 3 frames, not 200
    fwd.pump();
    expect(out.sent.length).toBe(8);
    for (let i = 0; i < 20; i++) {
      clock.now += 50;
      fwd.pump();
    }
    expect(out.sent.length).toBe(60); // caught up with the cache
    run(5, 120); // live: no pacing any more, every packet at once
    fwd.pump();
    expect(out.sent.length).toBe(65);
    fwd.close();
  });

  it("burst sends the cached GOP with its own timestamps, audio from the IDR's arrival", () => {
    const { out, audioOut, fwd, run } = setup("cached-gop", "burst");
    run(100, 120);
    fwd.start();
    fwd.pump();
    expect(out.sent.length).toBe(100);
    expect(out.sent.map((s) => ((s.ts - (out.sent[0] as Sent).ts) >>> 0))).toEqual([...Array(100).keys()].map((i) => i * 3000));
    expect(audioOut.sent[0]?.payload).toBe(0); // the audio that came with the IDR
    expect(audioOut.sent.length).toBeGreaterThan(150);
  });

  it("next-keyframe waits for a new IDR and asks for one, as before", () => {
    const { out, requests, fwd, run } = setup("next-keyframe");
    run(100, 120);
    fwd.start();
    fwd.pump();
    expect(out.sent).toEqual([]);
    expect(requests).toEqual(["join"]);
    run(30, 120); // frame 120 is an IDR
    fwd.pump();
    expect(out.sent[0]?.payload).toBe(120);
  });

  it("cached-gop with no IDR held (none yet, or beyond the byte cap) falls back to the next keyframe", () => {
    const { out, requests, fwd, run, video } = setup("cached-gop");
    run(1, 120);
    // the only IDR is gone: force it out by marking a change (the cache is then empty of GOPs)
    video.markPublisherChange(0);
    fwd.start();
    expect(requests).toEqual(["join"]);
    expect(fwd.stats.cachedJoins).toBe(0);
    fwd.pump();
    expect(out.sent).toEqual([]);
  });
});

describe("ViewerForwarder: retransmissions", () => {
  it("resends a NACKed packet at most once per 30 ms, however often it is asked for", () => {
    const { out, fwd, run, clock } = setup("cached-gop");
    run(10, 30);
    fwd.start();
    fwd.pump();
    const seq = (out.sent[4] as Sent).seq;
    out.sent = [];
    fwd.nack([seq]);
    clock.now += 5;
    fwd.nack([seq]); // werift asks again every 5 ms
    expect(out.sent.map((s) => s.seq)).toEqual([seq]);
    expect(fwd.stats).toMatchObject({ retransmitted: 1, retransmitsSuppressed: 1 });
    clock.now += 25;
    fwd.nack([seq]);
    expect(out.sent.map((s) => s.seq)).toEqual([seq, seq]);
  });
});

describe("ViewerForwarder: publisher changes (resume after a network break)", () => {
  it("keeps sequence numbers contiguous, moves timestamps on by the wall-clock gap, waits for the new IDR and never replays the old GOP", () => {
    const { video, out, audioOut, requests, fwd, run, newPublisher } = setup("cached-gop");
    run(40, 30);
    fwd.start();
    fwd.pump();
    run(5, 30); // live, audio flowing
    fwd.pump();
    const before = out.sent.length;
    const lastVideo = out.sent.at(-1) as Sent;
    const lastAudio = audioOut.sent.at(-1) as Sent;
    newPublisher(2000);
    video.markPublisherChange(1_000_000 + 45 * 33);
    run(10, 100); // the new session (its IDR first); the signal came before it
    fwd.pump();
    const after = out.sent.slice(before);
    expect(after[0]?.payload).toBe(0); // the new session's IDR; nothing of the old
    expect(contiguous(out.sent)).toBe(true);
    expect(increasing(out.sent)).toBe(true);
    // 2 s gap + one frame interval, in 90 kHz ticks
    expect(((after[0] as Sent).ts - lastVideo.ts) >>> 0).toBe(Math.round(((2000 + 33) * 90000) / 1000));
    expect(requests).toEqual(["publisher-changed"]);
    expect(fwd.stats.publisherChanges).toBe(1);
    // audio carries on too, contiguous and forward by about the same gap (48 kHz)
    const audioAfter = audioOut.sent.slice(audioOut.sent.indexOf(lastAudio) + 1);
    expect(audioAfter.length).toBeGreaterThan(0);
    expect(contiguous(audioOut.sent)).toBe(true);
    const audioGapMs = (((audioAfter[0] as Sent).ts - lastAudio.ts) >>> 0) / 48;
    expect(audioGapMs).toBeGreaterThan(2000);
    expect(audioGapMs).toBeLessThan(2100);
    // a NACK for a packet of the old session retransmits nothing
    fwd.nack([(lastVideo.seq - 2) & 0xffff]);
    expect(fwd.stats.retransmitMisses).toBe(1);
    // a NACK inside the new session works
    fwd.nack([(after[2] as Sent).seq]);
    expect(fwd.stats.retransmitted).toBe(1);
  });

  it("treats an SSRC change without the hub's signal the same way", () => {
    const { out, fwd, run, newPublisher } = setup("cached-gop");
    run(40, 30);
    fwd.start();
    fwd.pump();
    const before = out.sent.length;
    const last = out.sent.at(-1) as Sent;
    newPublisher(500);
    run(3, 100); // no IDR yet besides frame 0
    fwd.pump();
    expect(out.sent.slice(before).map((s) => s.payload)).toEqual([0, 1, 2]);
    expect(((out.sent[before] as Sent).ts - last.ts) >>> 0).toBe(Math.round(((500 + 33) * 90000) / 1000));
    expect(contiguous(out.sent)).toBe(true);
  });

  it("a viewer joining after a change never starts at the old session's GOP", () => {
    const { video, out, requests, fwd, run, newPublisher } = setup("cached-gop");
    run(40, 30);
    newPublisher(1000);
    video.markPublisherChange(0);
    run(5, 100); // frames 0..4: IDR at 0
    fwd.start();
    fwd.pump();
    expect(requests).toEqual([]);
    expect(out.sent[0]?.payload).toBe(0);
    expect(out.sent.length).toBe(5);
  });

  it("the fan-out marks both rings when the hub signals, and keeps its viewers", () => {
    const hub = new StreamHub("cam", { video: { codec: "h264" } }, 8);
    const fanout = new StreamFanout(hub, { minPackets: 64, bufferMs: 10_000, bufferBytes: 1 << 20 });
    hub.publishRtp("video", pkt(1, 0, [IDR, 0], 1));
    hub.publishRtp("audio", pkt(1, 0, [0xfc, 0], 2));
    hub.publisherChanged({ sessionId: "s2", reason: "re-post", lastMediaAt: 42 });
    expect(fanout.video.publisher).toEqual({ index: 1, lastMediaAt: 42 });
    expect(fanout.audio.publisher).toEqual({ index: 1, lastMediaAt: 42 });
    expect(fanout.video.lastKeyframeStart).toBe(-1);
    fanout.close();
    hub.publisherChanged({ sessionId: "s3", reason: "takeover", lastMediaAt: 43 });
    expect(fanout.video.publisherChanges).toBe(1); // no longer listening
  });
});
