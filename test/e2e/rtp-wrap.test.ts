import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { MediaStreamTrack, RtpPacket } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { startRtpSource, type SentStats } from "../helpers/ffmpeg-rtp-source.js";
import { whipPublish } from "../helpers/whip-client.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests, type ProbedFrame } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * A publisher whose RTP sequence numbers and timestamps start just below 2^16 and 2^32 (a
 * werift WHIP client fed by ffmpeg; the test rewrites each packet's header before the track
 * sends it): both wrap a few seconds in, on video and on audio. The recording must hold every
 * frame sent, on a timeline continuous through the wraps, and the server must count no loss.
 */
const execFileAsync = promisify(execFile);
const FPS = 30;
const SECONDS = 8;

/** Which wraps the numbers written so far went through. */
interface Wraps {
  seq: boolean;
  ts: boolean;
}

/** A stand-in for the track that renumbers each packet from `seq0`/`ts0` before werift sends it (werift keeps them: its offsets stay 0). */
function wrapping(track: MediaStreamTrack, seq0: number, ts0: number, wraps: Wraps): MediaStreamTrack {
  let firstSeq: number | undefined;
  let firstTs = 0;
  let lastSeq = seq0;
  let lastTs = ts0;
  const renumber = (p: RtpPacket): void => {
    if (firstSeq === undefined) {
      firstSeq = p.header.sequenceNumber;
      firstTs = p.header.timestamp;
    }
    p.header.sequenceNumber = (p.header.sequenceNumber - firstSeq + seq0) & 0xffff;
    p.header.timestamp = (p.header.timestamp - firstTs + ts0) >>> 0;
    if (p.header.sequenceNumber < lastSeq - 0x8000) wraps.seq = true;
    if (p.header.timestamp < lastTs - 0x8000_0000) wraps.ts = true;
    lastSeq = p.header.sequenceNumber;
    lastTs = p.header.timestamp;
  };
  return {
    writeRtp: (p: RtpPacket) => {
      renumber(p);
      track.writeRtp(p);
    },
  } as unknown as MediaStreamTrack;
}

let ts: TestServer;
let sent: SentStats;
let manifest: RecordingManifest;
const videoWraps: Wraps = { seq: false, ts: false };
const audioWraps: Wraps = { seq: false, ts: false };

beforeAll(async () => {
  ts = await startTestServer();
  const pub = await whipPublish(`${ts.url}/whip/wrap`, { video: true, audio: true });
  if (!pub.videoTrack || !pub.audioTrack) throw new Error("no tracks");
  // Video: about 3 packets a frame at 640x360, so the sequence wraps ~1.5 s in; the 90 kHz
  // timestamp wraps at 3 s. Audio (50 packets/s): sequence at 1 s, 48 kHz timestamp at 2 s.
  const source = await startRtpSource(
    {
      video: { track: wrapping(pub.videoTrack, 65_536 - 150, 2 ** 32 - 3 * 90_000, videoWraps), sender: pub.videoSender },
      audio: { track: wrapping(pub.audioTrack, 65_536 - 50, 2 ** 32 - 2 * 48_000, audioWraps), sender: pub.audioSender },
    },
    { width: 640, height: 360, fps: FPS, gopSeconds: 1, durationSeconds: SECONDS, audio: true, preset: "ultrafast" },
  );
  try {
    await source.done;
    // Every packet accounted for (received, none counted lost) before the session ends.
    await expectNoIngestLoss(ts.url, "wrap", source.stats);
    sent = { ...source.stats };
  } finally {
    await source.stop();
    await pub.close();
  }
  await ts.server.recorder.flush();
  const manifests = await readManifests(ts.dataDir, "wrap");
  expect(manifests.length).toBe(1);
  manifest = manifests[0] as RecordingManifest;
}, 90_000);

afterAll(async () => {
  await ts?.stop();
});

async function audioPacketTimes(file: string): Promise<number[]> {
  const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split("\n").filter((l) => l.trim() !== "").map(Number);
}

describe("RTP sequence and timestamp wrap-around, end to end", () => {
  it("sent enough to cross both wraps on both tracks", () => {
    expect(videoWraps).toEqual({ seq: true, ts: true });
    expect(audioWraps).toEqual({ seq: true, ts: true });
    expect(sent.videoPackets).toBeGreaterThan(300);
    expect(sent.videoFrames).toBeGreaterThanOrEqual(SECONDS * FPS - 5);
    expect(sent.audioPackets).toBeGreaterThan(200);
  });

  it("records every frame sent, one recording, decodable", async () => {
    const file = await assemble(ts.dataDir, manifest);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(sent.videoFrames);
    expect(await decodeErrors(file)).toBe("");
  });

  it("keeps the video timeline continuous through the wraps: no step over 2 frame intervals, none back", async () => {
    const frames: ProbedFrame[] = await probeVideoFrames(await assemble(ts.dataDir, manifest));
    const steps = frames.slice(1).map((f, i) => f.ptsTime - (frames[i] as ProbedFrame).ptsTime);
    expect(Math.min(...steps)).toBeGreaterThan(0);
    expect(Math.max(...steps)).toBeLessThanOrEqual(2 / FPS + 0.001);
    // The whole span is what was sent, not stretched or squashed by a wrap.
    const span = (frames.at(-1) as ProbedFrame).ptsTime - (frames[0] as ProbedFrame).ptsTime;
    expect(span).toBeCloseTo((frames.length - 1) / FPS, 1);
    expect(manifest.segments.every((s) => s.keyframe)).toBe(true);
  });

  it("keeps the audio timeline continuous through the wraps", async () => {
    const times = await audioPacketTimes(await assemble(ts.dataDir, manifest));
    expect(times.length).toBeGreaterThan(sent.audioPackets - 10);
    const steps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.min(...steps)).toBeGreaterThan(0);
    expect(Math.max(...steps)).toBeLessThanOrEqual(0.04 + 0.001);
  });
});
