import type { RTCPeerConnection } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ViewerEndReason } from "../../src/distributor/whep/whep-session.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * IFC_WHEP_IDLE_TIMEOUT_MS: a connected viewer that stops sending RTCP (a closed tab that sent no
 * DELETE) is disconnected after the timeout; one that keeps sending receiver reports stays.
 * werift's receiver sends a report every 0.5–1.5 s, so the timeout is 3 s (twice the longest
 * gap) rather than the 1 s minimum: a loaded machine must not make the live viewer look idle.
 */
const IDLE_MS = 3000;
let ts: TestServer;
let pub: TestStreamPublisher;
const viewers: WhepViewer[] = [];

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false, aiEnabled: false, whepIdleTimeoutMs: IDLE_MS });
  // Long enough to outlast the test; stopped in afterAll.
  pub = await publishTestStream(`${ts.url}/whip/idle`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 60, audio: false, preset: "ultrafast", connectTimeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.close()));
  await pub?.stop();
  await ts?.stop();
});

/** Silences every RTCP packet the viewer would send (receiver reports, NACK, PLI); ICE consent checks go on. */
function muteRtcp(pc: RTCPeerConnection): void {
  for (const t of pc.getTransceivers()) {
    const transport = t.receiver.dtlsTransport as unknown as { sendRtcp: (packets: unknown[]) => Promise<void> };
    transport.sendRtcp = async () => undefined;
  }
}

const sessionLive = (viewer: WhepViewer): boolean => {
  const id = viewer.location.split("/").pop() as string;
  try {
    return !ts.server.whep.get("idle", id).isEnded;
  } catch {
    return false; // not found: the session is gone
  }
};

describe("WHEP idle timeout (IFC_WHEP_IDLE_TIMEOUT_MS)", () => {
  it("disconnects a viewer that stops sending RTCP, and keeps one that sends", async () => {
    const live = await whepWatch(`${ts.url}/whep/idle`, { audio: false, connectTimeoutMs: 30_000 });
    viewers.push(live);
    const silent = await whepWatch(`${ts.url}/whep/idle`, { audio: false, connectTimeoutMs: 30_000 });
    viewers.push(silent);
    await Promise.all([live.waitUnits(15, 10_000), silent.waitUnits(15, 10_000)]);
    expect(ts.server.registry.get("idle")?.hub.viewerCount).toBe(2);

    const silentSession = ts.server.whep.get("idle", silent.location.split("/").pop() as string);
    const liveSession = ts.server.whep.get("idle", live.location.split("/").pop() as string);
    const liveEnds: string[] = [];
    liveSession.onEnd((r) => liveEnds.push(r));
    const ended = new Promise<ViewerEndReason>((resolve) => silentSession.onEnd(resolve));

    const mutedAt = Date.now();
    muteRtcp(silent.pc);
    expect(await ended).toBe("idle-timeout");
    expect(sessionLive(silent)).toBe(false);
    // not before the timeout: the last report went out at most just before muting
    expect(Date.now() - mutedAt).toBeGreaterThanOrEqual(IDLE_MS - 1500);
    expect(ts.server.registry.get("idle")?.hub.viewerCount).toBe(1);
    // the session resource is gone too
    expect((await fetch(new URL(silent.location, ts.url), { method: "DELETE" })).status).toBe(404);

    // The live viewer outlasts another full timeout: wait until it has received more than
    // IDLE_MS of media (30 fps) after the silent one ended, then check it is still served.
    const before = live.units.length;
    await live.waitUnits(before + Math.ceil(((IDLE_MS + 1500) * 30) / 1000), 30_000);
    expect(sessionLive(live)).toBe(true);
    expect(liveEnds).toEqual([]);
    expect(ts.server.registry.get("idle")?.hub.viewerCount).toBe(1);
  });
});
