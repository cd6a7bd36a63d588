import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(async () => {
  await ts?.stop();
});

describe("two publishers at once", () => {
  it("records both streams correctly and independently", async () => {
    const [a, b] = await Promise.all([
      publishTestStream(`${ts.url}/whip/left`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 8, audio: true }),
      publishTestStream(`${ts.url}/whip/right`, { width: 1280, height: 720, fps: 25, gopSeconds: 1, durationSeconds: 8, audio: false }),
    ]);
    const live = (await (await fetch(`${ts.url}/api/v1/streams`)).json()) as { streams: { name: string }[] };
    expect(live.streams.map((s) => s.name).sort()).toEqual(["left", "right"]);
    await Promise.all([a.done, b.done]);
    // every packet sent reached the server (or this names the loss): the exact counts hold
    await Promise.all([expectNoIngestLoss(ts.url, "left", a.stats), expectNoIngestLoss(ts.url, "right", b.stats)]);
    const sent = { left: a.stats.videoFrames, right: b.stats.videoFrames };
    await Promise.all([a.stop(), b.stop()]);
    await ts.server.recorder.flush();
    for (const [name, size] of [["left", [640, 360]], ["right", [1280, 720]]] as const) {
      const [m] = await readManifests(ts.dataDir, name);
      expect(m?.inits[0]).toMatchObject({ width: size[0], height: size[1] });
      const file = await assemble(ts.dataDir, m!);
      expect((await probeVideoFrames(file)).length).toBe(sent[name]);
      expect(await decodeErrors(file)).toBe("");
    }
  });
});
