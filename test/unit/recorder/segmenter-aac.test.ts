import { describe, expect, it } from "vitest";
import { readFragment } from "../../../src/media/fmp4/fragment-reader.js";
import { nalType } from "../../../src/media/h264-nal.js";
import type { AudioFrame, VideoAccessUnit } from "../../../src/media/types.js";
import { h264Fixture } from "../../support/h264-fixtures.js";
import { collectSegmenter } from "../../support/segmenter-outputs.js";

const T0 = 1_800_000_000_000;
const RATE = 44_100;

/** 2 s of 30 fps video and AAC at 44.1 kHz (frames of `frameTicks`), interleaved by capture time, video first. */
async function record(config: Uint8Array, frameTicks: number, extra: (seg: ReturnType<typeof collectSegmenter>["seg"], i: number) => void = () => undefined) {
  const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 2, gop: 30 });
  const out = collectSegmenter({
    segmentDurationMs: 1000, partDurationMs: 500, keyframeRequestLeadMs: 0, maxSegmentDurationMs: 20000,
    audio: { codec: "aac", channels: 2, sampleRate: RATE, config },
  });
  let a = 0;
  units.forEach((u, i) => {
    const ms = (i * 1000) / 30;
    for (; (a * frameTicks * 1000) / RATE < ms; a++) {
      const frame: AudioFrame = { kind: "audio", codec: "aac", data: Uint8Array.of(0x21, a & 0xff), rtpTime: a * frameTicks, arrivalMs: T0 + ms, wallClockMs: T0 + (a * frameTicks * 1000) / RATE };
      out.seg.audio(frame);
    }
    const sps = u.nalus.find((n) => nalType(n) === 7);
    const pps = u.nalus.find((n) => nalType(n) === 8);
    out.seg.video({ kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: T0 + ms, wallClockMs: T0 + ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) } satisfies VideoAccessUnit);
    extra(out.seg, i);
  });
  out.seg.finish();
  return { ...out, audioFrames: a };
}

const ascii = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

describe("Segmenter with AAC", () => {
  it("writes an mp4a/esds entry on the sample-rate timescale; audio fragments follow RTP time; the last AU lasts 1024", async () => {
    const { inits, parts, audioFrames } = await record(Uint8Array.of(0x12, 0x10), 1024);
    const init = ascii(inits[0]?.data as Uint8Array);
    expect(init).toContain("mp4a");
    expect(init).toContain("esds");
    expect(init).not.toContain("dOps");
    const audio = parts.map((p) => readFragment(p.data).tracks.find((t) => t.trackId === 2)).filter((t) => t !== undefined);
    expect(audio.reduce((n, t) => n + t.sampleCount, 0)).toBe(audioFrames);
    // Each fragment starts where the previous one's samples end, on the 44.1 kHz clock.
    for (let k = 1; k < audio.length; k++) expect(audio[k]?.baseMediaDecodeTime).toBe((audio[k - 1]?.baseMediaDecodeTime ?? 0) + (audio[k - 1]?.duration ?? 0));
    const last = audio.at(-1);
    expect((last?.baseMediaDecodeTime ?? 0) + (last?.duration ?? 0) - (audio[0]?.baseMediaDecodeTime ?? 0)).toBe(audioFrames * 1024);
  });

  it("gives the last AU the config's frame length (960 with frameLengthFlag)", async () => {
    const { parts, audioFrames } = await record(Uint8Array.of(0x12, 0x14), 960);
    const audio = parts.map((p) => readFragment(p.data).tracks.find((t) => t.trackId === 2)).filter((t) => t !== undefined);
    const last = audio.at(-1);
    expect((last?.baseMediaDecodeTime ?? 0) + (last?.duration ?? 0) - (audio[0]?.baseMediaDecodeTime ?? 0)).toBe(audioFrames * 960);
  });

  it("keeps an Opus frame out of an AAC track", async () => {
    const plain = await record(Uint8Array.of(0x12, 0x10), 1024);
    const mixed = await record(Uint8Array.of(0x12, 0x10), 1024, (seg, i) => {
      seg.audio({ kind: "audio", codec: "opus", data: Uint8Array.of(0xfc), rtpTime: i * 1470 + 5, arrivalMs: T0, wallClockMs: T0 + (i * 1000) / 30 });
    });
    expect(mixed.parts.map((p) => Buffer.from(p.data).toString("hex"))).toEqual(plain.parts.map((p) => Buffer.from(p.data).toString("hex")));
  });
});
