import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { StreamRegistry, type LiveStream, type StreamStats } from "../../src/core/stream-registry.js";
import { nalType } from "../../src/media/h264-nal.js";
import type { AudioFrame, MediaFrame, VideoAccessUnit } from "../../src/media/types.js";
import { Recorder } from "../../src/recorder/recorder.js";
import { AacDepacketizer } from "../../src/media/aac-depacketizer.js";
import { aacConfigFromHex } from "../../src/media/aac-config.js";
import { aacFixture, captureAacRtp, type AacFixture } from "../support/aac-fixtures.js";
import { h264Fixture, type EncodedUnit } from "../support/h264-fixtures.js";
import { assemble, decodeErrors, probeStreams, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { waitFor } from "../support/wait-for.js";

const execFileAsync = promisify(execFile);

/**
 * An H.264 + AAC stream (the RTSP camera's "H.264 (+AAC)") through the real recording path:
 * registry and hub (the audio timeline on the AAC clock), recorder, segmenter, fs store. The
 * stored segments must hold both tracks, and ffmpeg must decode every AAC frame in them.
 */
const T0 = 1_800_000_000_000;
const FPS = 30;
const SECONDS = 5;
const RATE = 44_100; // not Opus's 48 kHz: a clock mix-up shows as a drift of 9 %
const log = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "warn" });

let dir: string;
let video: EncodedUnit[];
let aac: AacFixture;
let registry: StreamRegistry;
let recorder: Recorder;

const stats = (): StreamStats => ({ protocol: "rtsp", sessionId: "s", since: T0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

function videoUnit(i: number, t0 = T0): VideoAccessUnit {
  const u = video[i] as EncodedUnit;
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const ms = t0 + (i * 1000) / FPS;
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: ms, wallClockMs: ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

/** AAC frame i, its RTP time mapped through the stream's audio timeline as ingest does. */
function audioFrame(live: LiveStream, i: number): AudioFrame {
  const ms = T0 + (i * 1024 * 1000) / RATE;
  const rtpTime = live.timelines.audio.map(7_000 + i * 1024, ms); // a publisher's clock starts anywhere
  return { kind: "audio", codec: "aac", data: aac.aus[i] as Uint8Array, rtpTime, arrivalMs: ms, wallClockMs: ms };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-rec-aac-"));
  [video, aac] = await Promise.all([
    h264Fixture({ width: 320, height: 240, fps: FPS, seconds: SECONDS, gop: 30, profile: "baseline" }),
    aacFixture({ sampleRate: RATE, channels: 2, seconds: SECONDS }),
  ]);
  registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 4096, streamBuffer: { maxMs: 5000, maxBytes: 16 << 20 } });
  const store = new FsObjectStore(dir);
  await store.init();
  recorder = new Recorder(registry, store, {
    recordByDefault: true, segmentDurationMs: 2000, partDurationMs: 500, keyframeRequestLeadMs: 0, maxSegmentDurationMs: 10_000, alignToWallClock: false,
  }, log);
}, 60_000);

afterAll(async () => {
  for (const s of registry.list()) registry.release(s);
  await recorder.flush();
  await rm(dir, { recursive: true, force: true });
});

describe("recording an H.264 + AAC stream", () => {
  it("stores fMP4 segments with an h264 and an aac track; every AAC frame decodes, in sync with video", async () => {
    const config = aac.config;
    const live = registry.claim("cam-aac", "session-aac", { video: { codec: "h264" }, audio: { codec: "aac", channels: 2, sampleRate: RATE, config } }, stats);
    expect(live.timelines.audio.clockHz).toBe(RATE);
    registry.announce(live);
    await waitFor(() => recorder.isRecording("cam-aac"), { what: "the recording to start" });

    // Both tracks in capture order, as one publisher's hub carries them.
    const frames: MediaFrame[] = [];
    let a = 0;
    for (let v = 0; v < video.length; v++) {
      const vf = videoUnit(v);
      for (; a < aac.aus.length && T0 + (a * 1024 * 1000) / RATE < vf.wallClockMs; a++) frames.push(audioFrame(live, a));
      frames.push(vf);
    }
    for (const f of frames) live.hub.publish(f);
    const published = frames.filter((f) => f.kind === "audio").length;
    registry.release(live);
    await waitFor(() => !recorder.isRecording("cam-aac"), { what: "the recording to close" });
    await recorder.flush();

    const [m] = await readManifests(dir, "cam-aac");
    expect(m?.segments.length).toBeGreaterThanOrEqual(2);
    expect(m?.inits[0]).toMatchObject({ codec: "avc1.42c00d", audio: "mp4a.40.2" });
    const file = await assemble(dir, m as NonNullable<typeof m>);
    const streams = await probeStreams(file);
    expect(streams.map((s) => [s.codec_type, s.codec_name])).toEqual([["video", "h264"], ["audio", "aac"]]);
    // Every frame from the first IDR on is recorded (frame 0 is one); the last video frame too.
    expect(Number(streams[0]?.nb_read_packets)).toBe(video.length);
    expect(Number(streams[1]?.nb_read_packets)).toBe(published);
    expect(await decodeErrors(file)).toBe("");

    const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels,time_base:frame=nb_samples", "-of", "json", file], { maxBuffer: 16 << 20 });
    const probe = JSON.parse(stdout) as { streams: { sample_rate: string; channels: number; time_base: string }[]; frames: { nb_samples: number }[] };
    expect(probe.streams[0]).toMatchObject({ sample_rate: String(RATE), channels: 2, time_base: `1/${RATE}` });
    expect(probe.frames).toHaveLength(published);
    expect(probe.frames.reduce((n, f) => n + f.nb_samples, 0)).toBe(published * 1024);

    // Audio spans the video's time: the same 5 s on both clocks, within a frame or two.
    const videoEnd = (await probeVideoFrames(file)).at(-1)?.ptsTime ?? 0;
    const { stdout: last } = await execFileAsync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file], { maxBuffer: 16 << 20 });
    const audioEnd = Number(last.trim().split("\n").at(-1));
    expect(Math.abs(audioEnd - videoEnd)).toBeLessThan(0.06);
  }, 60_000);

  it("records ffmpeg's RTP AAC (fragmented AUs, one packet lost) through the depacketizer: it decodes, the hole kept in time", async () => {
    const t0 = T0 + 60_000;
    const rtp = await captureAacRtp({ sampleRate: 48_000, channels: 1, seconds: SECONDS, bitrate: "192k", pktSize: 300 });
    const config = aacConfigFromHex(rtp.fmtp.config as string);
    const live = registry.claim("cam-rtp", "session-rtp", { video: { codec: "h264" }, audio: { codec: "aac", channels: 1, sampleRate: rtp.clockRate, config } }, stats);
    registry.announce(live);
    await waitFor(() => recorder.isRecording("cam-rtp"), { what: "the recording to start" });

    const audio: AudioFrame[] = [];
    const d = new AacDepacketizer({
      config, clockRate: rtp.clockRate, sizeLength: Number(rtp.fmtp.sizelength), indexLength: Number(rtp.fmtp.indexlength), indexDeltaLength: Number(rtp.fmtp.indexdeltalength),
      onFrame: (f) => audio.push(f),
    });
    const lost = Math.floor(rtp.packets.length / 2);
    const base = rtp.packets[0]?.timestamp ?? 0;
    for (const [i, p] of rtp.packets.entries()) {
      const ms = t0 + (((p.timestamp - base) >>> 0) * 1000) / rtp.clockRate;
      if (i !== lost) d.push(p.seq, p.timestamp, p.payload, ms, p.marker);
    }
    d.flush();
    expect(d.packetsLost).toBe(1);
    const holes = audio.filter((f) => f.samplesLostBefore !== undefined);
    expect(holes.length).toBe(1);

    const frames: MediaFrame[] = [];
    let a = 0;
    for (let v = 0; v < video.length; v++) {
      const vf = videoUnit(v, t0);
      for (; a < audio.length && (audio[a] as AudioFrame).wallClockMs < vf.wallClockMs; a++) {
        const f = audio[a] as AudioFrame;
        frames.push({ ...f, rtpTime: live.timelines.audio.map(f.rtpTime, f.arrivalMs) });
      }
      frames.push(vf);
    }
    for (const f of frames) live.hub.publish(f);
    const published = frames.filter((f) => f.kind === "audio").length;
    registry.release(live);
    await waitFor(() => !recorder.isRecording("cam-rtp"), { what: "the recording to close" });
    await recorder.flush();

    const [m] = await readManifests(dir, "cam-rtp");
    const file = await assemble(dir, m as NonNullable<typeof m>);
    const streams = await probeStreams(file);
    expect(streams.map((s) => [s.codec_type, s.codec_name])).toEqual([["video", "h264"], ["audio", "aac"]]);
    expect(Number(streams[1]?.nb_read_packets)).toBe(published);
    expect(await decodeErrors(file)).toBe("");
    // Packet times: the AU lost with the packet left its 1024 samples as a hole, not a shift.
    const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts", "-of", "csv=p=0", file], { maxBuffer: 16 << 20 });
    const pts = stdout.trim().split("\n").map(Number);
    const steps = pts.slice(1).map((p, i) => p - (pts[i] as number));
    expect(steps.filter((s) => s !== 1024)).toEqual([(holes[0]?.samplesLostBefore ?? 0) + 1024]);
  }, 60_000);
});
