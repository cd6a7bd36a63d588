/**
 * Out of disk on the real disk, without filling it: IFC_RETENTION_MIN_FREE_BYTES is set above
 * the data directory's free space as statfs reports it now, so the real server's cleaner finds
 * the disk low. A live publisher records; a kept clip holds the first seconds. The cleaner
 * deletes the rolling segments (the one being written stays), never the clip, logs the alarm
 * once, shows it on /metrics, and the recorder carries on writing new segments.
 * (Which segments go first under a finite shortfall is in test/unit/recorder/retention-disk-low.test.ts.)
 */
import { mkdtemp, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type Server } from "../../src/server.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames } from "../support/recording-probe.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

interface LogLine { level: number; msg: string; freeBytes?: number; minFreeBytes?: number }

let server: Server | undefined;
let pub: TestStreamPublisher | undefined;
let dataDir = "";
afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const ALARM = "disk space below IFC_RETENTION_MIN_FREE_BYTES: deleting the oldest rolling segments";

describe("out of disk (IFC_RETENTION_MIN_FREE_BYTES)", () => {
  it("the real disk below the minimum: rolling segments go, the kept clip stays and plays, one alarm, metrics set, recording goes on", async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "ifc-disklow-"));
    const s = await statfs(dataDir);
    const free = s.bavail * s.bsize;
    // Above the free space by far more than anything else on this machine writes meanwhile.
    const minFree = free + 512 * 1024 * 1024;
    const lines: LogLine[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as LogLine) });
    server = await startServer(loadConfig({}, {
      httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, aiEnabled: false, grpcEnabled: false, restRateLimitPerMinute: 0,
      segmentDurationMs: 1000, partDurationMs: 500,
      // The test runs the passes: none on a timer in between.
      retentionIntervalMs: 3_600_000, retentionMinFreeBytes: minFree,
    }), logger);
    const srv = server;
    pub = await publishTestStream(`${srv.url}/whip/cam1`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 60, audio: false });
    const live = () => srv.recorder.liveManifest("cam1");
    const complete = () => live()?.segments.filter((x) => x.complete) ?? [];
    await waitFor(() => complete().length >= 4, { timeoutMs: 30_000, what: "4 complete segments" });

    // Keep the first two seconds as a clip (copies under clips/, outside the rolling recording).
    const first = complete()[0]!;
    const clip = await srv.clips.create("cam1", first.startMs, first.startMs + 2000, {});
    const clipObjects = await srv.store.list("clips/");
    expect(clipObjects.length).toBeGreaterThan(1);

    const before = live()!.segments.map((x) => ({ seq: x.seq, complete: x.complete }));
    const r = await srv.retention.runOnce();
    const evicted = before.filter((x) => x.complete).map((x) => x.seq);
    expect(r.diskLowEvictions).toBe(evicted.length);
    const left = live()!.segments.map((x) => x.seq);
    for (const seq of evicted) expect(left).not.toContain(seq);
    // The stored manifest agrees, and names no missing object.
    const stored = JSON.parse(await readFile(path.join(dataDir, "cam1", live()!.recordingId, "manifest.json"), "utf8")) as { segments: { seq: number; parts: { key: string }[] }[] };
    for (const seg of stored.segments) {
      expect(evicted).not.toContain(seg.seq);
      for (const p of seg.parts) await expect(srv.store.stat(p.key)).resolves.toBeDefined();
    }
    for (const seq of evicted) expect(await srv.store.list(`cam1/${live()!.recordingId}/${String(seq).padStart(6, "0")}-`)).toEqual([]);

    // The clip: every object still there, and it decodes.
    expect(await srv.store.list("clips/")).toEqual(clipObjects);
    const plan = await srv.clips.plan(clip.id);
    const clipFile = path.join(dataDir, "clip.mp4");
    const chunks: Buffer[] = [];
    for (const k of [plan.initKey, ...plan.partKeys]) chunks.push(await srv.store.get(k));
    await writeFile(clipFile, Buffer.concat(chunks));
    expect((await probeVideoFrames(clipFile)).length).toBeGreaterThanOrEqual(15);
    expect(await decodeErrors(clipFile)).toBe("");

    // The recorder goes on: a new segment completes after the eviction, and the next pass takes it.
    const newest = Math.max(...before.map((x) => x.seq));
    await waitFor(() => complete().some((x) => x.seq > newest), { timeoutMs: 20_000, what: "a segment completed after the eviction" });
    // It still decodes: the init it needs was kept although every segment before it went.
    const after = complete().find((x) => x.seq > newest)!;
    const afterFile = await assemble(dataDir, live()!, [after], path.join(dataDir, "after.mp4"));
    expect((await probeVideoFrames(afterFile)).length).toBeGreaterThan(0);
    expect(await decodeErrors(afterFile)).toBe("");
    const r2 = await srv.retention.runOnce();
    expect(r2.diskLowEvictions).toBeGreaterThan(0);

    // One alarm for the episode, with the free bytes and the minimum.
    const alarms = lines.filter((l) => l.msg === ALARM);
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ level: 40, minFreeBytes: minFree });
    expect(alarms[0]!.freeBytes).toBeLessThan(minFree);

    const metrics = await waitForValue(async () => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      return /^ifc_disk_low 1$/m.test(text) ? text : undefined;
    }, { what: "ifc_disk_low 1 on /metrics" });
    const freeGauge = Number(/^ifc_disk_free_bytes\{path="([^"]+)"\} (\S+)$/m.exec(metrics)?.[2]);
    expect(/^ifc_disk_free_bytes\{path="([^"]+)"\}/m.exec(metrics)?.[1]).toBe(path.resolve(dataDir));
    expect(freeGauge).toBeGreaterThan(0);
    expect(freeGauge).toBeLessThan(minFree);
    expect(metrics).toMatch(new RegExp(`^ifc_disk_min_free_bytes ${minFree}$`, "m"));
    expect(Number(/^ifc_disk_low_evictions_total (\S+)$/m.exec(metrics)?.[1])).toBe(r.diskLowEvictions + r2.diskLowEvictions);
  }, 90_000);
});
