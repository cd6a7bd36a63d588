/**
 * The stream's decoder ffmpeg crashes (SIGKILL from outside) while a publisher records, a WHEP
 * viewer watches and an AI worker takes frames. The decoder is restarted at the next IDR and
 * frames reach the worker again; ingest, recording and the viewer never notice.
 */
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { ReferenceWorker } from "../../src/worker/reference-worker.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { decoderPids } from "../support/process-tree.js";
import { assemble, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { storedParts } from "../support/stored-parts.js";
import { waitFor } from "../support/wait-for.js";

let srv: ServerProcess | undefined;
let pub: TestStreamPublisher | undefined;
let viewer: WhepViewer | undefined;
const worker = new ReferenceWorker({ capacityFps: 30, initialCredits: 4, maxFrameBytes: 8 << 20 }, pino({ level: "silent" }));
afterAll(async () => {
  await viewer?.close().catch(() => undefined);
  await pub?.stop().catch(() => undefined);
  if (srv && srv.child.exitCode === null) {
    srv.child.kill("SIGTERM");
    await srv.exited;
  }
  await worker.close(0);
});

interface LogLine { msg: string; reason?: string; pid?: number; signal?: string }
const logLines = (p: ServerProcess): LogLine[] =>
  p.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as LogLine);

describe("decoder (ffmpeg) crash", () => {
  it("is restarted at the next IDR and frames reach the AI worker again; ingest, recording and a WHEP viewer carry on", async () => {
    await worker.listen("127.0.0.1:0");
    srv = await spawnServer({
      IFC_AI_ENABLED: "true", IFC_AI_WORKERS: worker.address, IFC_AI_MAX_PRESET: "low",
      IFC_SEGMENT_DURATION_MS: "2000", IFC_PART_DURATION_MS: "500",
    });
    const server = srv;
    pub = await publishTestStream(`${server.url}/whip/crash`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 14, audio: false, preset: "ultrafast" });
    viewer = await whepWatch(`${server.url}/whep/crash`, { audio: false, connectTimeoutMs: 30_000 });
    await waitFor(() => worker.stats.framesReceived >= 10, { timeoutMs: 20_000, what: "10 frames at the worker" });
    const [pid] = decoderPids(server.child.pid);
    expect(decoderPids(server.child.pid)).toHaveLength(1);

    const atKill = { worker: worker.stats.framesReceived, viewer: viewer.units.length, parts: (await storedParts(server.dataDir, "crash")).length };
    process.kill(pid!, "SIGKILL");
    await waitFor(() => logLines(server).some((l) => l.msg === "decoder process exited unexpectedly" && l.signal === "SIGKILL"), { what: "the crash seen" });
    // Restarted, at an IDR (the decoder starts only at one), as a new process.
    const restarted = await (async () => {
      let line: LogLine | undefined;
      await waitFor(() => (line = logLines(server).find((l) => l.msg === "decoder started" && l.reason === "crash")) !== undefined, { timeoutMs: 15_000, what: "the decoder restarted" });
      return line!;
    })();
    expect(restarted.pid).not.toBe(pid);
    expect(decoderPids(server.child.pid)).toEqual([restarted.pid]);
    await waitFor(() => worker.stats.framesReceived >= atKill.worker + 10, { timeoutMs: 15_000, what: "frames at the worker again" });

    // Meanwhile the viewer kept receiving and the recording kept growing.
    expect(viewer.units.length).toBeGreaterThan(atKill.viewer);
    expect((await storedParts(server.dataDir, "crash")).length).toBeGreaterThan(atKill.parts);

    // And nothing was lost: every frame sent was received and recorded.
    await pub.done;
    const sent = pub.stats.videoFrames;
    const streamStats = async () => (await (await fetch(`${server.url}/api/v1/streams/crash`)).json()) as { packetsLost: number; framesReceived: number };
    await waitFor(async () => {
      const st = await streamStats();
      return st.framesReceived >= sent || st.packetsLost > 0;
    }, { timeoutMs: 10_000, what: "every frame sent received" });
    const live = await streamStats();
    expect(live.packetsLost).toBe(0);
    expect(live.framesReceived).toBe(sent);
    await viewer.close();
    viewer = undefined;
    await pub.stop();
    pub = undefined;
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const [m] = await readManifests(server.dataDir, "crash");
    expect((await probeVideoFrames(await assemble(server.dataDir, m as RecordingManifest))).length).toBe(sent);
  }, 90_000);
});
