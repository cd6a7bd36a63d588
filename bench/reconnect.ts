/**
 * Reconnect after a network cut (issue 12), server in its own process (as deployed), AI worker
 * in another, the publisher's UDP path through a NetRelay (test/support/net-relay.ts):
 *  - the recording gap for a 5 s cut, per way back, over N runs (median, max):
 *      (a) ICE restart: a new offer with iceRestart + PATCH with the new ufrag/pwd
 *          (RFC 9725 §4.4.1) on the same WHIP session (test/helpers/ice-restart-client.ts);
 *      (b) re-POST: the old PeerConnection is dropped during the cut (no DELETE), a new one
 *          POSTs WHIP for the same stream with the same credentials;
 *      (c) new source address: relay.rebind() (the server sees a new port), then (a);
 *  - the time from reconnect (ICE connected again, or the new session connected) to the first
 *    frame at the AI worker after the break: first analysis event on
 *    /ws/streams/{stream}/detections whose frame was captured after the cut ended (arrival at
 *    this process, and the worker's own receive time: captured_at + latency_ms.workerReceivedMs).
 * The recording gap is read from the manifests' `gaps` field when the recorder lists the break;
 * else it is the larger of the largest pts step between frames within a recording (ffprobe;
 * a recorder that squashes the break shows ~one frame here) and the wall-clock hole between
 * consecutive segments (startMs + durationMs → next startMs) across every recording of the
 * stream. The number of recordings is kept (one is the goal: the same recording resumes).
 * A run that does not come back (the session ended at the cut, a 404/409 to the PATCH or the
 * POST) is kept with its error: before the reconnect feature, that is the figure.
 *   npx tsx bench/reconnect.ts [runs=5] [cutMs=5000]   (--short: 1 run each)
 */
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import WebSocket from "ws";
import { parseManifest, type RecordingManifest } from "../src/recorder/manifest.js";
import { spawnReferenceWorker } from "../src/worker/spawn-worker.js";
import { publishThroughRelay, type RelayedPublisher } from "../test/support/net-publish.js";
import { restartIce } from "../test/helpers/ice-restart-client.js";
import { NetRelay } from "../test/support/net-relay.js";
import { assemble, probeVideoFrames } from "../test/support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { machine, numArg, pollFor, writeResults } from "./lib/results.js";
import { max, median, round } from "./lib/stats.js";

const runs = numArg(0, 5, 1);
const cutMs = numArg(1, 5000);
const FPS = 30;
const GOP_S = 1;
const STREAM = "wearable";
const m = machine();

type Way = "ice-restart" | "re-post" | "new-address";
const WAYS: Way[] = ["ice-restart", "re-post", "new-address"];

interface AiEvent {
  arrivedAt: number;
  capturedAt: number;
  workerReceivedAt?: number;
}

interface RunResult {
  way: Way;
  run: number;
  ok: boolean;
  error?: string;
  /** Cut ended → publisher connected again. */
  reconnectMs?: number;
  /** Connected again → first post-break analysis event arrived here. */
  aiFirstResultMs?: number;
  /** Connected again → the worker received the first post-break frame (worker's clock, same host). */
  aiFirstFrameMs?: number;
  recordings: number;
  gapMs?: number;
  gapSource?: "manifest" | "segments" | "pts";
  /** Largest hole between consecutive frames' pts within one recording (ffprobe). */
  ptsGapMs?: number;
  /** Largest wall-clock hole between consecutive segments (across recordings). */
  segmentGapMs?: number;
  /** Video frames in the recordings, and the pts span they cover (a recording that stopped at the cut shows here). */
  framesRecorded?: number;
  recordedSpanMs?: number;
  /** First publisher connected → last publisher stopped. */
  publishedMs?: number;
  /** Datagrams the relay dropped during the cut, up/down. */
  cutDatagrams?: [number, number];
  /** The server's stream state seen during the cut (e.g. "reconnecting"). */
  stateDuringCut?: string;
}

/** Analysis events of one stream, re-subscribed when the socket closes (the stream may end). */
function watchDetections(url: string, stream: string): { events: AiEvent[]; close(): void } {
  const events: AiEvent[] = [];
  let ws: WebSocket | undefined;
  let closed = false;
  const open = (): void => {
    if (closed) return;
    ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws/streams/${stream}/detections`);
    ws.on("message", (d: Buffer) => {
      const e = JSON.parse(d.toString()) as { frame?: { captured_at: string }; latency_ms?: { workerReceivedMs?: number } };
      if (!e.frame) return;
      const capturedAt = Date.parse(e.frame.captured_at);
      const wr = e.latency_ms?.workerReceivedMs;
      events.push({ arrivedAt: Date.now(), capturedAt, ...(wr !== undefined ? { workerReceivedAt: capturedAt + wr } : {}) });
    });
    ws.on("error", () => undefined);
    ws.on("close", () => {
      if (!closed) setTimeout(open, 200);
    });
  };
  open();
  return {
    events,
    close: () => {
      closed = true;
      ws?.close();
    },
  };
}

async function streamState(url: string): Promise<{ state: string; framesReceived: number } | undefined> {
  const res = await fetch(`${url}/api/v1/streams/${STREAM}`);
  return res.status === 200 ? ((await res.json()) as { state: string; framesReceived: number }) : undefined;
}

async function readManifests(dataDir: string): Promise<RecordingManifest[]> {
  const dir = path.join(dataDir, STREAM);
  const out: RecordingManifest[] = [];
  for (const rec of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const buf = await readFile(path.join(dir, rec, "manifest.json")).catch(() => undefined);
    if (buf) out.push(parseManifest(buf));
  }
  return out;
}

/** The longest break in the recordings: the manifests' own `gaps` list when present, else holes between segments. */
function recordingGap(ms: RecordingManifest[]): { gapMs: number; source: "manifest" | "segments" } | undefined {
  const listed = ms.flatMap((x) => ((x as unknown as { gaps?: { durationMs?: number; startMs?: number; endMs?: number }[] }).gaps ?? []));
  if (listed.length > 0) {
    const lengths = listed.map((g) => g.durationMs ?? (g.endMs ?? 0) - (g.startMs ?? 0));
    return { gapMs: Math.max(...lengths), source: "manifest" };
  }
  const segs = ms.flatMap((x) => x.segments).sort((a, b) => a.startMs - b.startMs);
  if (segs.length < 2) return undefined;
  let gap = 0;
  for (let i = 1; i < segs.length; i++) {
    const prev = segs[i - 1] as RecordingManifest["segments"][number];
    gap = Math.max(gap, (segs[i]?.startMs ?? 0) - (prev.startMs + prev.durationMs));
  }
  return { gapMs: gap, source: "segments" };
}

/** Largest pts step between consecutive video frames within each recording, in ms; frames and pts span. */
async function ptsGap(dataDir: string, ms: RecordingManifest[]): Promise<{ gap?: number; frames: number; spanMs: number }> {
  let gap: number | undefined;
  let frameCount = 0;
  let spanMs = 0;
  for (const x of ms) {
    if (x.segments.length === 0) continue;
    // one file per init: a new SPS starts a new init within the recording
    for (const init of new Set(x.segments.map((sg) => sg.init))) {
      const frames = await probeVideoFrames(await assemble(dataDir, x, x.segments.filter((sg) => sg.init === init)));
      const pts = frames.map((f) => f.ptsTime).sort((a, b) => a - b);
      frameCount += pts.length;
      spanMs += ((pts.at(-1) ?? 0) - (pts[0] ?? 0)) * 1000;
      for (let i = 1; i < pts.length; i++) gap = Math.max(gap ?? 0, ((pts[i] ?? 0) - (pts[i - 1] ?? 0)) * 1000);
    }
  }
  return { ...(gap === undefined ? {} : { gap: Math.round(gap) }), frames: frameCount, spanMs: Math.round(spanMs) };
}

async function oneRun(way: Way, run: number, workerAddress: string): Promise<RunResult> {
  const server: ServerProcess = await spawnServer({
    IFC_AI_ENABLED: "true",
    IFC_AI_WORKERS: workerAddress,
    IFC_AI_MAX_PRESET: "high",
    IFC_QOS_STEP_DOWN_AFTER_MS: "3600000",
  });
  const relay = await NetRelay.start({ seed: run + 1 });
  const detections = watchDetections(server.url, STREAM);
  const pubs: RelayedPublisher[] = [];
  const result: RunResult = { way, run, ok: false, recordings: 0 };
  try {
    const whipUrl = `${server.url}/whip/${STREAM}`;
    const a = await publishThroughRelay(whipUrl, relay, { width: 640, height: 360, fps: FPS, gopSeconds: GOP_S, durationSeconds: 120, audio: false, connectTimeoutMs: 30_000 });
    pubs.push(a);
    // steady state: frames at the worker, a few GOPs recorded
    await pollFor("AI events before the cut", async () => (detections.events.length >= 30 ? true : undefined), 30_000);
    await pollFor("3 s of frames before the cut", async () => ((await streamState(server.url))?.framesReceived ?? 0) >= 3 * FPS || undefined, 30_000);

    const cutDone = relay.cut(cutMs);
    if (way === "re-post") {
      // the device rebuilt its connection: the old PeerConnection is gone without a word
      await a.source.stop();
      await a.publication.pc.close();
    }
    const midCut = setTimeout(() => {
      void streamState(server.url).then((s) => (result.stateDuringCut = s?.state ?? "gone"));
    }, cutMs - 500);
    await cutDone;
    clearTimeout(midCut);
    const restoredAt = Date.now();

    let reconnectedAt: number;
    if (way === "re-post") {
      const b = await publishThroughRelay(whipUrl, relay, { width: 640, height: 360, fps: FPS, gopSeconds: GOP_S, durationSeconds: 60, audio: false, connectTimeoutMs: 30_000 });
      pubs.push(b);
      reconnectedAt = b.publication.timings.connectedAt;
    } else {
      if (way === "new-address") await relay.rebind();
      const r = await restartIce(a.publication, { transformAnswer: (sdp) => relay.routeAnswer(sdp), connectTimeoutMs: 20_000 });
      reconnectedAt = r.connectedAt;
    }
    result.reconnectMs = reconnectedAt - restoredAt;
    const first = await pollFor("an AI event for a frame after the break", async () => detections.events.find((e) => e.capturedAt >= restoredAt), 20_000);
    result.aiFirstResultMs = first.arrivedAt - reconnectedAt;
    if (first.workerReceivedAt !== undefined) result.aiFirstFrameMs = first.workerReceivedAt - reconnectedAt;
    // a few seconds after the break, so the recording has segments on both sides
    await pollFor("3 s of AI events after the break", async () => (detections.events.some((e) => e.capturedAt >= reconnectedAt + 3000) ? true : undefined), 30_000);
    result.ok = true;
  } catch (err) {
    result.error = err instanceof Error ? err.message.slice(0, 300) : String(err);
  } finally {
    detections.close();
    result.cutDatagrams = [relay.counters("up").cut, relay.counters("down").cut];
    for (const p of pubs) await p.stop().catch(() => undefined);
    const firstConnected = pubs[0]?.publication.timings.connectedAt;
    if (firstConnected !== undefined) result.publishedMs = Date.now() - firstConnected;
    await relay.close();
    server.child.kill("SIGTERM"); // finalises the recording
    await server.exited;
    const manifests = await readManifests(server.dataDir);
    result.recordings = manifests.length;
    const gap = recordingGap(manifests);
    if (gap?.source === "segments") result.segmentGapMs = Math.round(gap.gapMs);
    const probed = await ptsGap(server.dataDir, manifests).catch(() => undefined);
    if (probed) {
      result.ptsGapMs = probed.gap;
      result.framesRecorded = probed.frames;
      result.recordedSpanMs = probed.spanMs;
    }
    // the manifest's own list when there is one; else whichever hole is larger: a hole inside a
    // segment shows only in the pts, one between recordings only in the segments' wall clock
    if (gap?.source === "manifest") {
      result.gapMs = Math.round(gap.gapMs);
      result.gapSource = "manifest";
    } else if (result.ptsGapMs !== undefined && result.ptsGapMs >= (result.segmentGapMs ?? 0)) {
      result.gapMs = result.ptsGapMs;
      result.gapSource = "pts";
    } else if (result.segmentGapMs !== undefined) {
      result.gapMs = result.segmentGapMs;
      result.gapSource = "segments";
    }
    await rm(server.dataDir, { recursive: true, force: true });
  }
  return result;
}

const worker = await spawnReferenceWorker({ capacityFps: 1000, maxFrameBytes: 64 << 20, detectors: "none", log: pino({ level: "silent" }) });
const results: RunResult[] = [];
try {
  for (let run = 0; run < runs; run++) {
    for (const way of WAYS) {
      const r = await oneRun(way, run, worker.address);
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
} finally {
  await worker.stop();
}

const rows = WAYS.map((way) => {
  const rs = results.filter((r) => r.way === way);
  const ok = rs.filter((r) => r.ok);
  const gaps = rs.map((r) => r.gapMs).filter((x): x is number => x !== undefined);
  return {
    "way back": way,
    "runs ok": `${ok.length}/${rs.length}`,
    "recordings (max)": max(rs.map((r) => r.recordings)),
    "gap median ms": round(median(gaps), 0),
    "gap max ms": round(max(gaps), 0),
    "gap − cut median ms": gaps.length ? round((median(gaps) ?? 0) - cutMs, 0) : null,
    "gap from": [...new Set(rs.map((r) => r.gapSource ?? "-"))].join(","),
    "recorded/published median %": round(median(rs.map((r) => ((r.recordedSpanMs ?? 0) / Math.max(1, r.publishedMs ?? 1)) * 100)), 0),
    "reconnect median ms": round(median(ok.map((r) => r.reconnectMs ?? NaN).filter(Number.isFinite)), 0),
    "→ AI frame median ms": round(median(ok.map((r) => r.aiFirstFrameMs ?? NaN).filter(Number.isFinite)), 0),
    "→ AI result median ms": round(median(ok.map((r) => r.aiFirstResultMs ?? NaN).filter(Number.isFinite)), 0),
    "state during cut": [...new Set(rs.map((r) => r.stateDuringCut ?? "?"))].join(","),
  };
});
console.log(`reconnect bench: ${runs} run(s) per way, ${cutMs} ms cut, 640x360@${FPS}, ${GOP_S} s GOP, publisher through NetRelay`);
console.table(rows);
const errors = [...new Set(results.filter((r) => !r.ok).map((r) => `${r.way}: ${r.error ?? ""}`))];
if (errors.length) console.log(`failures:\n  ${errors.join("\n  ")}`);
console.log(`wrote ${await writeResults("reconnect", m, { runs, cutMs, stream: { width: 640, height: 360, fps: FPS, gopSeconds: GOP_S }, rows, results })}`);
