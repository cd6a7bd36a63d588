/**
 * N WHIP publishers in a process of their own (bench/ingest-cost.ts runs it pinned to the core
 * the server is not on), so the publishers' SRTP and ffmpeg cost stays out of the server's
 * figure. Each sends the same pre-encoded H.264 clip as it is (ffmpeg -c:v copy, looped, in real
 * time), joining `joinIntervalMs` apart. Talks to its parent over IPC:
 *   in:  { type: "start", urls, clip, seconds, joinIntervalMs }   then   { type: "stop" }
 *   out: { type: "joined", connectMs[] }, { type: "sent", sent[] }, { type: "stopped" }
 */
import { publishTestStream, type TestStreamPublisher } from "../../test/helpers/publish-test-stream.js";
import type { SentStats } from "../../test/helpers/ffmpeg-rtp-source.js";

export interface FleetStart {
  type: "start";
  urls: string[];
  clip: string;
  width: number;
  height: number;
  seconds: number;
  joinIntervalMs: number;
}

export type FleetReport =
  | { type: "joined"; connectMs: number[]; failed: string[] }
  | { type: "sent"; sent: SentStats[] }
  | { type: "stopped" };

const send = (m: FleetReport): void => void process.send?.(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(start: FleetStart): Promise<void> {
  const pubs: TestStreamPublisher[] = [];
  const failed: string[] = [];
  const joins: Promise<void>[] = [];
  for (const [i, url] of start.urls.entries()) {
    if (i > 0) await sleep(start.joinIntervalMs);
    joins.push(
      publishTestStream(url, { width: start.width, height: start.height, fps: 30, gopSeconds: 1, durationSeconds: start.seconds, audio: false, input: start.clip, videoCopy: true, connectTimeoutMs: 60_000 })
        .then((p) => void (pubs[i] = p))
        .catch((err: unknown) => void failed.push(`${url}: ${String(err)}`)),
    );
  }
  await Promise.all(joins);
  const live = pubs.filter((p): p is TestStreamPublisher => p !== undefined);
  send({ type: "joined", connectMs: live.map((p) => p.timings.connectedAt - p.timings.postSentAt), failed });
  await Promise.all(live.map((p) => p.done.catch(() => undefined)));
  send({ type: "sent", sent: pubs.map((p) => p?.stats ?? { videoFrames: 0, videoTimestamps: 0, keyframes: 0, videoPackets: 0, videoBytes: 0, audioPackets: 0, notSent: 0, inputGaps: 0 }) });
  await new Promise<void>((resolve) => process.once("message", () => resolve()));
  await Promise.all(live.map((p) => p.stop().catch(() => undefined)));
  send({ type: "stopped" });
  process.disconnect?.();
}

process.once("message", (m: FleetStart) => {
  run(m).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
