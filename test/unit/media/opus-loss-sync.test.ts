/**
 * Opus packets lost at ingest must not shift audio against video in a recording: the frame
 * after a hole carries the hole in its RTP time (and `samplesLostBefore`), and the segmenter
 * (read, not changed, here) must keep each audio sample at its RTP time. Checked on the fMP4
 * parts: every audio fragment's decode time is where the RTP time puts its first frame, and
 * the sample durations inside it carry the timeline to the next fragment.
 */
import { describe, expect, it } from "vitest";
import { readFragment } from "../../../src/media/fmp4/fragment-reader.js";
import { nalType } from "../../../src/media/h264-nal.js";
import { OpusDepacketizer } from "../../../src/media/opus-depacketizer.js";
import type { AudioFrame, VideoAccessUnit } from "../../../src/media/types.js";
import { h264Fixture } from "../../support/h264-fixtures.js";
import { collectSegmenter } from "../../support/segmenter-outputs.js";

const T0 = 1_800_000_000_000;
const opus = (n: number): Uint8Array => Uint8Array.from([0xfc, n & 0xff, 0x01, 0x02]); // CELT 20 ms

async function record(lostPackets: (i: number) => boolean) {
  const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 6, gop: 30 });
  const { seg, parts } = collectSegmenter({ segmentDurationMs: 2000, partDurationMs: 500, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20000, audio: { channels: 2 } });
  const audio: AudioFrame[] = [];
  const d = new OpusDepacketizer({ onFrame: (f) => audio.push(f), reorderWindowPackets: 3 });
  // Interleave by capture time: video every 33.3 ms, audio every 20 ms.
  let a = 0;
  units.forEach((u, i) => {
    const ms = (i * 1000) / 30;
    for (; a * 20 <= ms; a++) {
      if (!lostPackets(a)) d.push(a & 0xffff, a * 960, opus(a), T0 + a * 20);
      for (const f of audio.splice(0)) seg.audio({ ...f, wallClockMs: T0 + f.rtpTime / 48 });
    }
    const sps = u.nalus.find((n) => nalType(n) === 7);
    const pps = u.nalus.find((n) => nalType(n) === 8);
    const au: VideoAccessUnit = { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: T0 + ms, wallClockMs: T0 + ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
    seg.video(au);
  });
  d.flush();
  seg.finish();
  const tracks = parts.map((p) => readFragment(p.data).tracks);
  const video = tracks.map((t) => t.find((x) => x.trackId === 1));
  const aud = tracks.map((t) => t.find((x) => x.trackId === 2)).filter((x) => x !== undefined);
  return { d, video, audio: aud };
}

describe("Opus loss and the recording's A/V sync", () => {
  it("holes of one and of several packets: audio stays on its RTP time in every fragment", async () => {
    const lost = new Set([40, 41, 42, 100, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169]);
    const { d, video, audio } = await record((i) => lost.has(i));
    expect(d.packetsLost).toBe(lost.size);
    expect(d.samplesLost).toBe(lost.size * 960);
    expect(audio.length).toBeGreaterThan(8);
    // The recording opens on the first video unit (capture T0); the audio frame captured with it
    // came just before and is not taken, so audio starts with the next one, 20 ms later.
    expect((audio[0]?.baseMediaDecodeTime ?? -1) / 48 - (video[0]?.baseMediaDecodeTime ?? -2) / 90).toBe(20);
    for (let k = 0; k + 1 < audio.length; k++) {
      const cur = audio[k] as { baseMediaDecodeTime: number; duration: number };
      const next = audio[k + 1] as { baseMediaDecodeTime: number };
      // Each fragment's durations end exactly where the next one's first frame sits on RTP time.
      expect(cur.baseMediaDecodeTime + cur.duration).toBe(next.baseMediaDecodeTime);
      // And every fragment starts on a 20 ms frame of the publisher's RTP time.
      expect(cur.baseMediaDecodeTime % 960).toBe(0);
    }
  });
});
