import pino from "pino";
import { describe, expect, it } from "vitest";

import { StreamRegistry, type SessionStats } from "../../../src/core/stream-registry.js";
import { RtpTracksIngest, type RtpTrackSpec } from "../../../src/ingest/rtp-track-ingest.js";
import type { MediaFrame } from "../../../src/media/types.js";
import { h264Fixture, type EncodedUnit } from "../../support/h264-fixtures.js";
import { waitFor } from "../../support/wait-for.js";

const log = pino({ level: "silent" });
const OPTS = { reorderWindowPackets: 64, clockDriftToleranceMs: 100 };
const VIDEO: RtpTrackSpec = { kind: "video", codec: "h264", payloadType: 96, clockRate: 90_000, channels: 1, profileLevelId: "64001f" };
const OPUS: RtpTrackSpec = { kind: "audio", codec: "opus", payloadType: 97, clockRate: 48_000, channels: 2 };
const AAC: RtpTrackSpec = { kind: "audio", codec: "aac", payloadType: 98, clockRate: 44_100, channels: 2, aac: { config: Uint8Array.from([0x12, 0x10]), sizeLength: 13, indexLength: 3, indexDeltaLength: 3 } };

function rtp(pt: number, seq: number, ts: number, marker: boolean, payload: Uint8Array, ssrc = 0x1234): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

/** RFC 6184 packets of one access unit: single NAL units, FU-A above 1200 bytes. */
function packetizeH264(unit: EncodedUnit, pt: number, seq0: number, ts: number): Buffer[] {
  const out: Buffer[] = [];
  let seq = seq0;
  unit.nalus.forEach((nal, i) => {
    const last = i === unit.nalus.length - 1;
    if (nal.length <= 1200) {
      out.push(rtp(pt, seq++, ts, last, nal));
      return;
    }
    const header = nal[0] as number;
    for (let at = 1; at < nal.length; at += 1200) {
      const end = Math.min(nal.length, at + 1200);
      const fu = Buffer.alloc(2 + end - at);
      fu[0] = (header & 0xe0) | 28;
      fu[1] = (at === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | (header & 0x1f);
      fu.set(nal.subarray(at, end), 2);
      out.push(rtp(pt, seq++, ts, last && end === nal.length, fu));
    }
  });
  return out;
}

function stats(): SessionStats {
  return { protocol: "rtsp", sessionId: "s", since: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 };
}

describe("RtpTracksIngest", () => {
  it("turns H.264 and Opus RTP into units on the hub, on the stream's timelines, and forwards the raw RTP", async () => {
    const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 1, gop: 30 });
    const ingest = new RtpTracksIngest([VIDEO, OPUS], OPTS, log);
    expect(ingest.streamTracks).toEqual({ video: { codec: "h264", profileLevelId: "64001f" }, audio: { codec: "opus", channels: 2, sampleRate: 48_000 } });
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 1024 });
    const stream = registry.claim("cam", "s1", ingest.streamTracks, stats);
    ingest.attach(stream);
    const frames: MediaFrame[] = [];
    stream.hub.attach("test", (f) => void frames.push(f));
    const tapped = { video: 0, audio: 0 };
    stream.hub.tapRtp((kind) => void tapped[kind]++);

    let seq = 65_000; // wraps during the test
    let videoPackets = 0;
    const t0 = 1_700_000_000_000;
    units.forEach((u, i) => {
      const ts = 0xffff_0000 + i * 3000; // the 32-bit timestamp wraps too
      for (const p of packetizeH264(u, 96, seq, ts)) {
        ingest.pushRtp(0, p, t0 + i * 33);
        seq++;
        videoPackets++;
      }
      // Opus: a 20 ms CELT frame (TOC config 31, code 0) every ~20 ms.
      ingest.pushRtp(1, rtp(97, 100 + i, 1000 + i * 960, false, Uint8Array.from([0xf8, 1, 2, 3]), 0x99), t0 + i * 33);
    });
    await waitFor(() => frames.filter((f) => f.kind === "video").length === units.length, { what: "every unit on the hub" });
    const video = frames.filter((f) => f.kind === "video");
    expect(video[0]).toMatchObject({ isKeyframe: true, rtpTime: 0 });
    expect(video.at(-1)?.rtpTime).toBe((units.length - 1) * 3000);
    const audio = frames.filter((f) => f.kind === "audio");
    expect(audio.length).toBeGreaterThanOrEqual(units.length - 10); // the reorder window may hold the last few
    expect(audio[1]?.rtpTime).toBe(960);
    expect(tapped).toEqual({ video: videoPackets, audio: units.length });
    const s = ingest.stats();
    expect(s).toMatchObject({ packetsReceived: videoPackets + units.length, packetsLost: 0, framesReceived: units.length, framesDropped: 0 });
    expect(s.video).toMatchObject({ width: 320, height: 240 });
    expect(stream.hub.tracks.video?.sps).toMatchObject({ width: 320, height: 240 });
    expect(ingest.lastMediaAt).toBe(t0 + (units.length - 1) * 33);
  });

  it("counts and drops what is not RTP, unknown track indexes, and (until its depacketizer lands) AAC", () => {
    const ingest = new RtpTracksIngest([VIDEO, AAC], OPTS, log);
    expect(ingest.streamTracks.audio).toEqual({ codec: "aac", channels: 2, sampleRate: 44_100, config: Uint8Array.from([0x12, 0x10]) });
    ingest.pushRtp(0, Buffer.from([1, 2, 3]), 1); // too short
    ingest.pushRtp(0, Buffer.alloc(20, 0x40), 1); // version 1
    ingest.pushRtp(7, rtp(96, 1, 1, true, Uint8Array.from([0x65, 0])), 1);
    ingest.pushRtp(1, rtp(98, 1, 1, true, Uint8Array.from([0, 16, 0, 0])), 1);
    expect(ingest.malformedPackets).toBe(3);
    expect(ingest.ignoredPackets).toBe(1);
    expect(ingest.stats().packetsReceived).toBe(4);
    expect(ingest.lastMediaAt).toBe(1);
  });

  it("publishes nothing after detach, and sender reports anchor the wall clock", async () => {
    const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 1, gop: 30 });
    const ingest = new RtpTracksIngest([VIDEO], OPTS, log);
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 1024 });
    const stream = registry.claim("cam", "s1", ingest.streamTracks, stats);
    ingest.attach(stream);
    const frames: MediaFrame[] = [];
    stream.hub.attach("test", (f) => void frames.push(f));
    const now = Date.now();
    let seq = 1;
    const push = (i: number): void => {
      for (const p of packetizeH264(units[i] as EncodedUnit, 96, seq, 90_000 + i * 3000)) {
        ingest.pushRtp(0, p, now + i * 33);
        seq++;
      }
    };
    push(0);
    // SR: RTP 90000 was captured at a known NTP time (2 s before `now`).
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    sr.writeUInt32BE(0x1234, 4);
    const captureMs = now - 2000;
    const ntpSeconds = Math.floor(captureMs / 1000) + 2_208_988_800;
    sr.writeUInt32BE(ntpSeconds, 8);
    sr.writeUInt32BE(Math.round(((captureMs % 1000) / 1000) * 2 ** 32), 12);
    sr.writeUInt32BE(90_000, 16);
    ingest.pushRtcp(0, sr, now);
    push(1);
    push(2);
    await waitFor(() => frames.length === 3, { what: "three units" });
    expect(Math.abs((frames[2] as MediaFrame).wallClockMs - (captureMs + 200 / 3))).toBeLessThan(2);
    ingest.detach();
    push(3);
    push(4);
    expect(ingest.stats().framesReceived).toBe(5);
    await stream.hub.drain();
    expect(frames).toHaveLength(3);
  });
});
