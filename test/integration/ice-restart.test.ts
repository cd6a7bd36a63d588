import { afterEach, describe, expect, it } from "vitest";
import type { RTCPeerConnection } from "werift";
import { restartCompleted } from "../../src/rtc/werift-ice-restart.js";
import { dtlsTransports } from "../../src/rtc/werift-internals.js";
import { startIceRestart } from "../helpers/ice-restart-client.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * ICE restarts over PATCH with a werift client (issue 12, point 3): until the client completes
 * the restart, media and RTCP keep flowing on the old pair both ways; a restart never
 * completed ends the session after IFC_ICE_RESTART_TIMEOUT_MS.
 */
let ts: TestServer | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await ts?.stop();
  ts = undefined;
});

async function publish(stream: string): Promise<TestStreamPublisher> {
  if (!ts) throw new Error("no server");
  const pub = await publishTestStream(`${ts.url}/whip/${stream}`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 40, audio: false });
  cleanups.push(() => pub.stop());
  return pub;
}

/** RTCP packets (any type) the client's transport received and parsed. */
function rtcpCounter(pc: RTCPeerConnection): () => number {
  let n = 0;
  for (const t of dtlsTransports(pc)) t.onRtcp.subscribe(() => n++);
  return () => n;
}

const frames = (stream: string): number => ts?.server.registry.get(stream)?.stats().framesReceived ?? -1;

describe("ICE restart over PATCH", () => {
  it("WHIP: RTCP reaches the publisher and frames keep coming while the restart is pending and after it completes", async () => {
    ts = await startTestServer({ recordByDefault: false, iceRestartTimeoutMs: 3000 });
    const pub = await publish("rs1");
    const pc = pub.publication.pc;
    const rtcp = rtcpCounter(pc);
    await waitFor(() => frames("rs1") > 30 && rtcp() > 2, { what: "media and RTCP before the restart", timeoutMs: 20_000 });

    const restart = await startIceRestart(pub.publication);
    expect(restart.status).toBe(200);
    const patchedAt = Date.now();
    const [framesAtPatch, rtcpAtPatch] = [frames("rs1"), rtcp()];
    // Pending: the server has new credentials, the client has not applied them yet.
    await waitFor(() => frames("rs1") > framesAtPatch + 15 && rtcp() > rtcpAtPatch + 2, { what: "media in and RTCP out on the old pair while the restart is pending", timeoutMs: 15_000 });

    await restart.complete();
    await waitFor(() => restartCompleted(pc), { what: "the client selected a pair of the new generation", timeoutMs: 15_000 });
    const [framesDone, rtcpDone] = [frames("rs1"), rtcp()];
    // Past the restart timeout too: a completed restart does not end the session.
    await waitFor(() => Date.now() - patchedAt > 3500 && frames("rs1") > framesDone + 30 && rtcp() > rtcpDone + 2, { what: "media and RTCP on the new pair, past the restart timeout", timeoutMs: 20_000 });
    expect(ts.server.registry.get("rs1")?.stats().packetsLost).toBe(0);
  });

  it("WHIP: a restart the client never completes ends the session after IFC_ICE_RESTART_TIMEOUT_MS", async () => {
    ts = await startTestServer({ recordByDefault: false, iceRestartTimeoutMs: 1500 });
    const pub = await publish("rs2");
    await waitFor(() => frames("rs2") > 10, { what: "media before the restart", timeoutMs: 20_000 });
    const restart = await startIceRestart(pub.publication);
    expect(restart.status).toBe(200);
    const t0 = Date.now();
    const url = `${ts.url}/api/v1/streams/rs2`;
    // The session ends; its stream waits for the publisher in `reconnecting` (IFC_RECONNECT_GRACE_MS).
    const server = ts.server;
    await waitFor(() => server.ingest.count === 0, { what: "the session ended by the restart timeout", timeoutMs: 15_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500 - 50);
    const stream = (await (await fetch(url)).json()) as { state: string };
    expect(stream.state).toBe("reconnecting");
  });

  it("WHEP: the viewer keeps receiving while its restart is pending, after it completes, and a stalled one times out", async () => {
    ts = await startTestServer({ recordByDefault: false, iceRestartTimeoutMs: 2000 });
    await publish("rs3");
    const viewers: WhepViewer[] = [];
    const watch = async (): Promise<WhepViewer> => {
      const v = await whepWatch(`${ts?.url}/whep/rs3`, { audio: false });
      cleanups.push(() => v.close());
      viewers.push(v);
      await v.waitUnits(10, 20_000);
      return v;
    };
    const [done, stalled] = [await watch(), await watch()];

    const restart = await startIceRestart(done);
    expect(restart.status).toBe(200);
    const stall = await startIceRestart(stalled);
    expect(stall.status).toBe(200);
    const stalledAt = Date.now();
    const [u0, s0] = [done.units.length, stalled.units.length];
    await waitFor(() => done.units.length > u0 + 15 && stalled.units.length > s0 + 15, { what: "both viewers receive during the pending restarts", timeoutMs: 15_000 });

    await restart.complete();
    await waitFor(() => restartCompleted(done.pc), { what: "the viewer's new pair", timeoutMs: 15_000 });
    const closed = new Promise<number>((resolve) => {
      const [t] = dtlsTransports(stalled.pc);
      t?.onStateChange.subscribe((s) => s === "closed" && resolve(Date.now()));
    });
    // The stalled viewer is ended by the server (and told so: DTLS close_notify).
    const closedAt = await closed;
    expect(closedAt - stalledAt).toBeGreaterThanOrEqual(2000 - 50);
    const u1 = done.units.length;
    await waitFor(() => done.units.length > u1 + 30, { what: "the restarted viewer still receives", timeoutMs: 15_000 });
  });
});
