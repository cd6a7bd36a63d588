import { afterEach, describe, expect, it } from "vitest";
import type { StreamTracks } from "../../../src/core/stream-hub.js";
import { StreamRegistry, type LiveStream, type SessionStats } from "../../../src/core/stream-registry.js";
import { describeTracks, RtspReader, type RtspReaderOptions, type RtspReadTransport } from "../../../src/ingest/rtsp/read-session.js";
import { H264Depacketizer } from "../../../src/media/h264-depacketizer.js";
import type { AudioFrame, VideoAccessUnit } from "../../../src/media/types.js";
import { waitFor } from "../../support/wait-for.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
// libx264 1280x720 high: the depacketizer that checks the reader's output parses it.
const SPS = hex("6764001facd9405005bb0110000003001000000303c0f1831960");
const PPS = hex("68ebe3cb22c0");
const AAC_CONFIG = hex("1210");

const stats = (): SessionStats => ({ protocol: "whip", sessionId: "s", since: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

let registry: StreamRegistry;
afterEach(() => {
  for (const s of registry?.list() ?? []) registry.release(s);
});

function liveStream(tracks: StreamTracks = { video: { codec: "h264", profileLevelId: "42e01f" }, audio: { codec: "opus", channels: 2, sampleRate: 48_000 } }, queue = 64): LiveStream {
  registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: queue });
  const s = registry.claim("cam", "session-1", tracks, stats);
  registry.announce(s);
  return s;
}

/** Frame n of a 30 fps stream: 3000 ticks and 33 ms apart; an IDR every `gop`, with `size` bytes of slice. */
function video(n: number, gop = 30, size = 200): VideoAccessUnit {
  const key = n % gop === 0;
  const s = new Uint8Array(size);
  s[0] = key ? 0x65 : 0x41;
  s[1] = 0x88;
  s[2] = n & 0xff;
  s[3] = (n >> 8) & 0xff;
  for (let i = 4; i < size; i++) s[i] = (i * 13 + n) & 0xff || 1;
  return { kind: "video", codec: "h264", nalus: [s], isKeyframe: key, rtpTime: n * 3000, arrivalMs: 1_000_000 + n * 33, wallClockMs: 1_000_000 + n * 33, ...(key ? { sps: SPS, pps: PPS } : {}) };
}
/** Opus frame m: 20 ms (960 ticks) apart, starting 5 ms after video frame 0. */
function audio(m: number): AudioFrame {
  return { kind: "audio", codec: "opus", data: Uint8Array.from([0xfc, m & 0xff, 1, 2]), rtpTime: 7000 + m * 960, arrivalMs: 1_000_005 + m * 20, wallClockMs: 1_000_005 + m * 20 };
}

interface Rtp { seq: number; ts: number; marker: boolean; pt: number; ssrc: number; payload: Buffer }
const parse = (p: Buffer): Rtp => ({ seq: p.readUInt16BE(2), ts: p.readUInt32BE(4), marker: ((p[1] as number) & 0x80) !== 0, pt: (p[1] as number) & 0x7f, ssrc: p.readUInt32BE(8), payload: p.subarray(12) });

/** A boundary fake of the server's transport: records what the reader sends; `refuse` says which RTP packets it turns away. */
class FakeTransport implements RtspReadTransport {
  rtp: { index: number; p: Rtp }[] = [];
  rtcp: { index: number; p: Buffer }[] = [];
  refuse: (index: number, n: number) => boolean = () => false;
  offered = 0;
  sendRtp(index: number, packet: Buffer): boolean {
    if (this.refuse(index, this.offered++)) return false;
    this.rtp.push({ index, p: parse(packet) });
    return true;
  }
  sendRtcp(index: number, packet: Buffer): void {
    this.rtcp.push({ index, p: packet });
  }
  of(index: number): Rtp[] {
    return this.rtp.filter((r) => r.index === index).map((r) => r.p);
  }
}

/** Reassembles the reader's video packets as a player would. */
function playVideo(pkts: Rtp[]): VideoAccessUnit[] {
  const got: VideoAccessUnit[] = [];
  const d = new H264Depacketizer({ onAccessUnit: (u) => got.push(u) });
  for (const p of pkts) d.push(p.seq, p.ts, p.marker, p.payload, 0);
  d.flush();
  return got;
}
const frameNo = (u: VideoAccessUnit): number => {
  const slice = u.nalus.find((n) => ((n[0] as number) & 0x1f) === 1 || ((n[0] as number) & 0x1f) === 5) as Uint8Array;
  return (slice[2] as number) | ((slice[3] as number) << 8);
};

const OPTS: RtspReaderOptions = { queueFrames: 64, maxPacketBytes: 1472 };

describe("describeTracks", () => {
  it("answers video then audio; before any keyframe without sprop, after one with the newest SPS/PPS", () => {
    const s = liveStream();
    expect(describeTracks(s)).toEqual([
      { kind: "video", codec: "h264", payloadType: 96, clockRate: 90_000, channels: 1, profileLevelId: "42e01f" },
      { kind: "audio", codec: "opus", payloadType: 97, clockRate: 48_000, channels: 2 },
    ]);
    s.hub.publish(video(0));
    const [v] = describeTracks(s);
    expect(Buffer.from(v?.sps ?? []).toString("hex")).toBe(Buffer.from(SPS).toString("hex"));
    expect(Buffer.from(v?.pps ?? []).toString("hex")).toBe(Buffer.from(PPS).toString("hex"));
    // The SPS says better than what was negotiated.
    expect(v?.profileLevelId).toBe("64001f");
  });

  it("takes in-band SPS/PPS of a keyframe that does not carry them as fields", () => {
    const s = liveStream();
    const k = video(0);
    delete k.sps;
    delete k.pps;
    k.nalus = [SPS, PPS, ...k.nalus];
    s.hub.publish(k);
    expect(describeTracks(s)[0]?.sps?.length).toBe(SPS.length);
  });

  it("describes AAC with its clock, channels and AudioSpecificConfig; no track → none; a closed stream → none", () => {
    const aac = liveStream({ audio: { codec: "aac", channels: 2, sampleRate: 44_100, config: AAC_CONFIG } });
    expect(describeTracks(aac)).toEqual([{ kind: "audio", codec: "aac", payloadType: 97, clockRate: 44_100, channels: 2, aacConfig: AAC_CONFIG }]);
    registry.release(aac);
    expect(describeTracks(aac)).toEqual([]);
    expect(describeTracks(liveStream({}))).toEqual([]);
  });
});

describe("RtspReader", () => {
  it("with nothing buffered waits for the next IDR (asking the publisher for one), then sends every frame in order", async () => {
    const s = liveStream();
    const asked: string[] = [];
    s.hub.setKeyframeRequester((r) => asked.push(r));
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0, 1], t, OPTS);
    r.start();
    expect(asked).toEqual(["rtsp-reader-join"]);
    expect(r.rtpInfo(["rtsp://h/cam/trackID=0", "rtsp://h/cam/trackID=1"])).toMatch(/^url=rtsp:\/\/h\/cam\/trackID=0;seq=\d+,url=rtsp:\/\/h\/cam\/trackID=1;seq=\d+$/);
    for (let n = 25; n < 70; n++) {
      s.hub.publish(video(n));
      s.hub.publish(audio(n));
      if (n % 10 === 0) await s.hub.drain(); // within the queue bound
    }
    await s.hub.drain();
    const units = playVideo(t.of(0));
    expect(units.map(frameNo)).toEqual([...Array(40).keys()].map((i) => i + 30));
    // The SPS/PPS go in-band ahead of the IDR.
    expect(units[0]?.nalus.map((n) => (n[0] as number) & 0x1f)).toEqual([7, 8, 5]);
    // Timestamps: the stream's rtpTime plus one offset per track, so differences are preserved.
    const v = t.of(0);
    expect(new Set(v.map((p) => p.ssrc)).size).toBe(1);
    expect(((v.at(-1) as Rtp).ts - (v[0] as Rtp).ts) >>> 0).toBe(39 * 3000);
    const a = t.of(1);
    expect(a.map((p) => p.payload[1])).toEqual([...Array(45).keys()].map((i) => i + 25));
    expect(a.every((p, i) => i === 0 || p.seq === (((a[i - 1] as Rtp).seq + 1) & 0xffff))).toBe(true);
    expect(((a.at(-1) as Rtp).ts - (a[0] as Rtp).ts) >>> 0).toBe(44 * 960);
    expect(a[0]?.pt).toBe(97);
    expect(r.stats).toMatchObject({ framesSent: 85, framesDropped: 0, framesSkipped: 5, keyframeWaits: 1, cachedJoin: false });
    expect(r.stats.packetsSent).toBe(t.rtp.length);
    r.stop();
  });

  it("starts from the buffered GOP at once; RTP-Info gives the first seq and rtptime, audio's aligned to the IDR's wall clock", async () => {
    const s = liveStream();
    for (let n = 0; n < 40; n++) {
      s.hub.publish(video(n));
      s.hub.publish(audio(n));
    }
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0, 1], t, OPTS);
    r.start();
    const info = r.rtpInfo(["u0", "u1"]);
    await waitFor(() => playVideo(t.of(0)).length === 10, { what: "the cached GOP (frames 30..39)" });
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([...Array(10).keys()].map((i) => i + 30));
    const v = t.of(0);
    const a = t.of(1);
    const m = /^url=u0;seq=(\d+);rtptime=(\d+),url=u1;seq=(\d+);rtptime=(\d+)$/.exec(info);
    expect(m).not.toBeNull();
    const [, vSeq, vTime, aSeq, aTime] = (m as RegExpExecArray).map(Number);
    expect([vSeq, vTime]).toEqual([v[0]?.seq, v[0]?.ts]);
    expect(aSeq).toBe(a[0]?.seq);
    // The GOP holds what was published from the IDR on: audio 30..39 rode along with video 30..39.
    expect(a.map((p) => p.payload[1])).toEqual([...Array(10).keys()].map((i) => i + 30));
    // rtptime is audio's timestamp at the IDR's wall clock (audio 30 was captured 385 ms before it).
    const firstAudioWall = audio(30).wallClockMs;
    const idrWall = video(30).wallClockMs;
    expect(((a[0] as Rtp).ts - (aTime as number)) | 0).toBe(Math.round(((firstAudioWall - idrWall) * 48_000) / 1000));
    expect(r.stats.cachedJoin).toBe(true);
    r.stop();
  });

  it("a transport that refuses drops the rest of that frame, counts it, and sends video again only from the next IDR; audio goes on", async () => {
    const s = liveStream();
    const asked: string[] = [];
    s.hub.setKeyframeRequester((reason) => asked.push(reason));
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0, 1], t, OPTS);
    r.start();
    for (let n = 0; n < 5; n++) s.hub.publish(video(n, 10, 4000)); // 3 packets each
    await s.hub.drain();
    // Frame 5's second packet is refused.
    const refused = t.offered + 1;
    t.refuse = (_i, n) => n === refused;
    s.hub.publish(video(5, 10, 4000));
    await s.hub.drain();
    for (let n = 6; n < 15; n++) {
      s.hub.publish(video(n, 10, 4000));
      s.hub.publish(audio(n));
    }
    await s.hub.drain();
    expect(asked).toEqual(["rtsp-reader-join", "rtsp-reader-backlog"]);
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
    expect(t.of(1).map((p) => p.payload[1])).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(r.stats).toMatchObject({ framesDropped: 1, framesSkipped: 4, keyframeWaits: 2 });
    r.stop();
  });

  it("frames the hub dropped (queue full) are counted and video resyncs at the next IDR", async () => {
    const s = liveStream(undefined, 4);
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0], t, { ...OPTS, queueFrames: 4 });
    r.start();
    s.hub.publish(video(0, 10));
    await s.hub.drain();
    // Published in one tick: 1..4 fit the queue, 5..10 (the IDR among them) are dropped by the hub.
    for (let n = 1; n < 11; n++) s.hub.publish(video(n, 10));
    await s.hub.drain();
    s.hub.publish(video(11, 10));
    await s.hub.drain();
    // 1..4 were queued and sent; 5..10 dropped, so the first frame after the drop is 11, not an IDR: skipped.
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([0, 1, 2, 3, 4]);
    expect(r.stats.framesDropped).toBe(6);
    s.hub.publish(video(20, 10));
    await s.hub.drain();
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([0, 1, 2, 3, 4, 20]);
    r.stop();
  });

  it("sends a sender report with a track's first packet and then every interval: its NTP/RTP pair follows the frames' wall clock", async () => {
    const s = liveStream();
    let now = 2_000_000;
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0, 1], t, { ...OPTS, senderReportIntervalMs: 5000, now: () => now });
    r.start();
    s.hub.publish(video(0));
    s.hub.publish(audio(0));
    await s.hub.drain();
    expect(t.rtcp.map((x) => [x.index, x.p[1]])).toEqual([[0, 200], [1, 200]]);
    const sr = t.rtcp[0]?.p as Buffer;
    expect(sr.readUInt32BE(4)).toBe(t.of(0)[0]?.ssrc);
    // NTP (1900 epoch) of `now`, and the RTP timestamp moved on from frame 0's by now − its wall clock.
    expect(sr.readUInt32BE(8)).toBe(Math.floor(now / 1000) + 2_208_988_800);
    expect((sr.readUInt32BE(16) - (t.of(0)[0] as Rtp).ts) >>> 0).toBe(Math.round(((now - video(0).wallClockMs) * 90_000) / 1000));
    expect(sr.readUInt32BE(20)).toBe(t.of(0).length);
    // SDES CNAME follows, the same for both tracks.
    const cname = (b: Buffer): string => b.subarray(38, 38 + (b[37] as number)).toString();
    expect([sr[29], sr[36]]).toEqual([202, 1]);
    expect(cname(sr)).toMatch(/^[0-9a-f]{16}$/);
    expect(cname(t.rtcp[1]?.p as Buffer)).toBe(cname(sr));
    now += 4999;
    s.hub.publish(video(1));
    await s.hub.drain();
    expect(t.rtcp).toHaveLength(2);
    now += 1;
    s.hub.publish(video(2));
    await s.hub.drain();
    expect(t.rtcp.map((x) => x.index)).toEqual([0, 1, 0]);
    r.stop();
    // BYE on each track that sent.
    expect(t.rtcp.slice(3).map((x) => [x.index, x.p.readUInt8(x.p.length - 7)])).toEqual([[0, 203], [1, 203]]);
  });

  it("paces the buffered GOP (a burst would overflow a UDP player's buffer); live frames are not paced", async () => {
    const s = liveStream();
    // 12 frames of 8 kB, 1 s apart: the GOP's own rate is tiny, so the floor rate (200 B/ms) paces it.
    for (let n = 0; n < 12; n++) s.hub.publish({ ...video(n, 100, 8000), wallClockMs: 1_000_000 + n * 1000 });
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0], t, { ...OPTS, catchUpMinBytesPerMs: 200 });
    const started = Date.now();
    r.start();
    await waitFor(() => playVideo(t.of(0)).length === 12, { what: "the whole GOP" });
    // 96 kB at 200 B/ms after a 16 kB bucket: at least 400 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([...Array(12).keys()]);
    // Live: 5 × 8 kB (over the bucket) all go out in the hub's one delivery tick.
    for (let n = 12; n < 17; n++) s.hub.publish(video(n, 100, 8000));
    await new Promise((resolve) => setImmediate(resolve));
    expect(playVideo(t.of(0)).map(frameNo)).toEqual([...Array(17).keys()]);
    r.stop();
  });

  it("ends when the stream ends: onEnd once, BYE sent, detached from the hub", async () => {
    const s = liveStream();
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [0, 1], t, OPTS);
    let ended = 0;
    r.onEnd(() => ended++);
    r.start();
    s.hub.publish(video(0));
    await s.hub.drain();
    expect(s.hub.readerStats.map((x) => x.name)).toEqual(["rtsp"]);
    registry.release(s);
    expect(ended).toBe(1);
    const last = t.rtcp.at(-1)?.p as Buffer;
    expect(last[last.length - 7]).toBe(203);
    expect(s.hub.readerStats).toEqual([]);
    r.stop();
    expect(ended).toBe(1);
    let late = 0;
    r.onEnd(() => late++);
    await waitFor(() => late === 1, { what: "a listener added after the end is told" });
  });

  it("stop() detaches from the hub and sends nothing more; a reader of a closed stream ends at once", async () => {
    const s = liveStream();
    const t = new FakeTransport();
    const r = new RtspReader(s, describeTracks(s), [1], t, { ...OPTS, name: "sess-42" });
    r.start();
    expect(s.hub.readerStats.map((x) => x.name)).toEqual(["sess-42"]);
    r.stop();
    expect(s.hub.readerStats).toEqual([]);
    s.hub.publish(audio(0));
    await s.hub.drain();
    expect(t.rtp).toEqual([]);
    const tracks = describeTracks(s);
    registry.release(s);
    const late = new RtspReader(s, tracks, [0], new FakeTransport(), OPTS);
    let ended = false;
    late.onEnd(() => (ended = true));
    late.start();
    await waitFor(() => ended, { what: "the late reader's end" });
  });

  it("refuses to set up a track that was not described", () => {
    const s = liveStream();
    expect(() => new RtspReader(s, describeTracks(s), [2], new FakeTransport(), OPTS)).toThrow(RangeError);
  });
});
