/**
 * SIGKILL of the server while a publisher records, then a restart on the same data directory.
 * Every part stored before the kill (the fs store renames a complete file into place, so a part
 * on disk is a complete part) is named by the recovered manifest, listed by GET
 * /api/v1/recordings and played back by the playback API, decoding cleanly; the write the kill
 * interrupted (a staging file) is discarded; the recording is closed.
 */
import { readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { storedParts } from "../support/stored-parts.js";
import { waitFor } from "../support/wait-for.js";

const procs: ServerProcess[] = [];
let pub: TestStreamPublisher | undefined;
afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  if (procs[0]) await rm(procs[0].dataDir, { recursive: true, force: true });
});

const ENV = { IFC_SEGMENT_DURATION_MS: "2000", IFC_PART_DURATION_MS: "500" };

describe("SIGKILL", () => {
  it("after a kill mid-recording and a restart, every part stored before the kill is listed and plays; the interrupted write is discarded", async () => {
    const first = await spawnServer(ENV);
    procs.push(first);
    const dataDir = first.dataDir;
    pub = await publishTestStream(`${first.url}/whip/cam1`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 60, audio: true });
    // Past a few segments and mid-segment, so the manifest (rewritten per segment) lags the parts.
    await waitFor(async () => (await storedParts(dataDir, "cam1")).length >= 9, { timeoutMs: 30_000, what: "9 parts stored" });
    first.child.kill("SIGKILL");
    await first.exited;
    await pub.stop().catch(() => undefined); // the server is gone: DELETE cannot succeed
    pub = undefined;
    const stored = await storedParts(dataDir, "cam1");
    const [crashed] = await readManifests(dataDir, "cam1");
    expect(crashed?.endedAt).toBeNull(); // it never ended
    const namedBefore = crashed!.segments.flatMap((s) => s.parts.map((p) => p.key));

    const second = await spawnServer(ENV, dataDir);
    procs.push(second);
    expect(second.output()).toMatch(/recovered interrupted recording/);
    // The staging area of the write the kill cut short is emptied at start.
    expect(await readdir(path.join(dataDir, ".ifc-tmp"))).toEqual([]);

    // The manifest is rebuilt from the objects: it names every part that was stored, in order.
    const [m] = await readManifests(dataDir, "cam1");
    expect(m!.endedAt).not.toBeNull();
    const named = m!.segments.flatMap((s) => s.parts.map((p) => p.key));
    expect(named).toEqual(stored);
    expect(named.length).toBeGreaterThanOrEqual(namedBefore.length);
    expect(m!.segments.every((s) => s.complete && s.keyframe)).toBe(true);

    const res = await fetch(`${second.url}/api/v1/recordings?stream=cam1`);
    expect(res.status).toBe(200);
    const { recordings } = (await res.json()) as { recordings: { recordingId: string; startMs: number; durationMs: number; segments: number; live: boolean }[] };
    expect(recordings).toHaveLength(1);
    const rec = recordings[0]!;
    expect(rec).toMatchObject({ recordingId: m!.recordingId, segments: m!.segments.length, live: false });
    const storedMs = m!.segments.reduce((n, s) => n + s.durationMs, 0);
    expect(rec.durationMs).toBeGreaterThanOrEqual(storedMs - 1);

    // Played back whole through the API, and decoded frame by frame.
    const play = await fetch(`${second.url}/api/v1/recordings/cam1/play?start=${rec.startMs}&duration=${Math.ceil(rec.durationMs / 1000) + 1}`);
    expect(play.status).toBe(200);
    const file = path.join(dataDir, "played.mp4");
    await writeFile(file, Buffer.from(await play.arrayBuffer()));
    const frames = await probeVideoFrames(file);
    // 15 fps over the stored parts' duration (a frame of slack at each part edge).
    expect(frames.length).toBeGreaterThanOrEqual(Math.floor((storedMs / 1000) * 15) - named.length);
    expect(frames[0]?.keyFrame).toBe(true);
    expect(await decodeErrors(file)).toBe("");

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 120_000);
});
