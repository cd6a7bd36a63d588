import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { storedParts } from "../support/stored-parts.js";
import { waitFor } from "../support/wait-for.js";

const SHUTDOWN_TIMEOUT_MS = 5000;

let proc: ServerProcess | undefined;
afterAll(async () => {
  if (proc && proc.child.exitCode === null) proc.child.kill("SIGKILL");
  if (proc) await rm(proc.dataDir, { recursive: true, force: true });
});

describe("graceful shutdown", () => {
  it("SIGTERM during publishing: exits 0, the last part is on disk and everything received decodes", async () => {
    proc = await spawnServer({ IFC_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    const server = proc;
    const pub = await publishTestStream(`${proc.url}/whip/cam1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: true });
    // Just after the fifth part (1 s each) landed: mid-part, and mid-segment (4 s).
    await waitFor(async () => (await storedParts(server.dataDir, "cam1")).length >= 5, { timeoutMs: 30_000, what: "5 parts stored" });
    const sentBefore = pub.stats.videoFrames;
    const termAt = Date.now();
    proc.child.kill("SIGTERM");
    const code = await proc.exited;
    // Everything below was finalised within IFC_SHUTDOWN_TIMEOUT_MS (past it the process exits 1).
    expect(Date.now() - termAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const sentAfter = pub.stats.videoFrames;
    await pub.stop().catch(() => undefined); // the server is gone: DELETE cannot succeed
    expect(code).toBe(0);
    expect(proc.output()).toMatch(/shutdown complete/);

    const [m] = await readManifests(proc.dataDir, "cam1");
    expect(m).toBeDefined();
    expect(m!.endedAt).not.toBeNull();
    const last = m!.segments[m!.segments.length - 1]!;
    expect(last.parts.length).toBeGreaterThan(0);
    const lastFrames = await probeVideoFrames(await assemble(proc.dataDir, m!, [last]));
    expect(lastFrames[0]?.keyFrame).toBe(true);
    const file = await assemble(proc.dataDir, m!);
    const frames = await probeVideoFrames(file);
    // every frame the server had received when it shut the session is in the recording
    const ended = /"frames":(\d+)[^\n]*"msg":"publisher session ended"/.exec(proc.output());
    expect(ended).not.toBeNull();
    expect(frames.length).toBe(Number(ended?.[1]));
    expect(frames.length).toBeGreaterThanOrEqual(sentBefore - 5);
    expect(frames.length).toBeLessThanOrEqual(sentAfter);
    expect(await decodeErrors(file)).toBe("");
  });
});
