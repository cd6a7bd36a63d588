/**
 * The disk fills while a stream records: every write the real server's recorder makes fails
 * with ENOSPC for a while (injected at the store's boundary: filling a shared disk is not a
 * test). Nothing written before changes, the server stays up, and once space is back the
 * recorder carries on: new segments are stored, named by the manifest, and decode.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseManifest } from "../../src/recorder/manifest.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

let ts: TestServer | undefined;
let pub: TestStreamPublisher | undefined;
afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  await ts?.stop();
});

describe("disk full while recording", () => {
  it("writes failing with ENOSPC corrupt nothing stored, do not stop the server, and recording resumes when space is back", async () => {
    ts = await startTestServer({ segmentDurationMs: 1000, partDurationMs: 500, retentionMinFreeBytes: 0 });
    const { server, dataDir } = ts;
    const store = server.store;
    const realPut = store.put.bind(store);
    let full = false;
    let refused = 0;
    store.put = async (key, data, contentType) => {
      if (full) {
        refused++;
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      }
      return realPut(key, data, contentType);
    };
    pub = await publishTestStream(`${server.url}/whip/full`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 40, audio: false });
    const live = () => server.recorder.liveManifest("full");
    await waitFor(() => (live()?.segments.filter((s) => s.complete).length ?? 0) >= 2, { timeoutMs: 30_000, what: "2 segments stored" });

    full = true;
    // Everything on disk as the disk fills.
    const recordingId = live()!.recordingId;
    const recDir = path.join(dataDir, "full", recordingId);
    const snapshot = async () => {
      const out = new Map<string, Buffer>();
      for (const o of await store.list(`full/${recordingId}/`)) out.set(o.key, await readFile(path.join(dataDir, o.key)));
      return out;
    };
    const before = await snapshot();
    await waitFor(() => refused >= 6, { timeoutMs: 20_000, what: "6 writes refused" });
    const during = await snapshot();
    expect([...during.keys()]).toEqual([...before.keys()]);
    for (const [k, b] of before) expect(during.get(k)?.equals(b), k).toBe(true);
    const storedDuring = parseManifest(await readFile(path.join(recDir, "manifest.json")));
    for (const s of storedDuring.segments) for (const p of s.parts) expect(during.has(p.key), p.key).toBe(true);
    expect((await fetch(`${server.url}/api/v1/streams/full`)).status).toBe(200); // still up, still live

    full = false;
    const lastBefore = Math.max(...live()!.segments.map((s) => s.seq));
    await waitFor(() => live()!.segments.some((s) => s.complete && s.seq > lastBefore + 1), { timeoutMs: 20_000, what: "segments stored after space came back" });
    await server.recorder.flush();
    // The stored manifest catches up once its own refused writes are retried (with backoff, after
    // the parts): on a loaded machine that can come after the flush above.
    const after = await waitForValue(async () => {
      const m = parseManifest(await readFile(path.join(recDir, "manifest.json")));
      return m.segments.some((s) => s.seq > lastBefore + 1 && s.complete) ? m : undefined;
    }, { timeoutMs: 45_000, what: "the stored manifest listing a segment stored after space came back" });
    for (const s of after.segments) for (const p of s.parts) await expect(store.stat(p.key), p.key).resolves.toBeDefined();
    const resumed = after.segments.filter((s) => s.seq > lastBefore + 1 && s.complete);
    expect(resumed.length).toBeGreaterThan(0);
    const file = await assemble(dataDir, after, resumed, path.join(dataDir, "resumed.mp4"));
    expect((await probeVideoFrames(file)).length).toBeGreaterThanOrEqual(10);
    expect(await decodeErrors(file)).toBe("");
  }, 150_000);
});
