import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/** WebSocket telemetry on the server's HTTP port: stream stats, system status, limits. */
let ts: TestServer;
let wsUrl: string;

beforeAll(async () => {
  ts = await startTestServer({ wsStatsIntervalMs: 200, wsMaxMessagesPerMinute: 5, wsMaxClients: 4, wsMaxMessageBytes: 256 });
  wsUrl = ts.url.replace("http", "ws");
});

afterAll(async () => {
  await ts?.stop();
});

function open(path: string): Promise<WebSocket> {
  const ws = new WebSocket(`${wsUrl}${path}`);
  return new Promise((resolve, reject) => ws.once("open", () => resolve(ws)).once("error", reject));
}

function collect(ws: WebSocket): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  ws.on("message", (d: Buffer) => out.push(JSON.parse(d.toString()) as Record<string, unknown>));
  return out;
}

/** The HTTP answer to an upgrade the server refused. */
function refused(path: string): Promise<{ status: number; body: { type: string; status: number } }> {
  const ws = new WebSocket(`${wsUrl}${path}`);
  return new Promise((resolve, reject) => {
    ws.once("open", () => reject(new Error("upgrade accepted")));
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { type: string; status: number } }));
    });
  });
}

describe("WebSocket telemetry", () => {
  it("pushes stream_stats of a live stream every interval", async () => {
    const pub = await publishTestStream(`${ts.url}/whip/tele`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 4, audio: false, preset: "ultrafast" });
    const ws = await open("/ws/streams/tele");
    const msgs = collect(ws);
    const live = (): Record<string, unknown>[] => msgs.filter((m) => m.type === "stream_stats" && m.live === true);
    // ten messages of the live stream (2 s at one per 200 ms) and 100 packets counted, taken
    // while media still flows (the stream sends ~120 frames in all)
    await waitFor(() => live().length >= 10 && Number(live().at(-1)?.packets_received) > 100, { what: "10 stream_stats of the live stream, the last counting 100 packets" });
    const stats = live();
    ws.close();
    await pub.done;
    await pub.stop();
    const last = stats[stats.length - 1] as Record<string, number>;
    // the measured rate of a 30 fps source: below it when a busy machine's ffmpeg falls behind, never far above
    expect(last.fps).toBeGreaterThan(0);
    expect(last.fps).toBeLessThanOrEqual(33);
    expect(last.bitrate_bps).toBeGreaterThan(10_000);
    expect(last.packets_received).toBeGreaterThan(100);
    expect(last.packet_loss_ratio).toBe(0);
    expect(last.viewers).toBe(0);
    expect(last).toMatchObject({ stream: "tele", width: 320, height: 240, recording: true });
  });

  it("tells a dashboard subscribed before the camera that the stream is not live", async () => {
    const ws = await open("/ws/streams/notyet");
    const msgs = collect(ws);
    await waitFor(() => msgs.length >= 1, { what: "the first message" });
    ws.close();
    expect(msgs[0]).toMatchObject({ type: "stream_stats", stream: "notyet", live: false });
  });

  it("pushes system_status", async () => {
    const ws = await open("/ws/system-status");
    const msgs = collect(ws);
    await waitFor(() => msgs.length >= 2, { what: "two system_status messages" }); // pushed again and again
    ws.close();
    expect(msgs[0]).toMatchObject({ type: "system_status", streams: 0, viewers: 0, ai: { enabled: false } });
    expect(msgs[0]?.memory_rss_bytes).toBeGreaterThan(0);
  });

  it("answers pings and closes a client past the message rate with 1008", async () => {
    const ws = await open("/ws/system-status");
    const msgs = collect(ws);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    for (let i = 0; i < 6; i++) ws.send(JSON.stringify({ type: "ping" }));
    expect(await closed).toBe(1008);
    expect(msgs.filter((m) => m.type === "pong").length).toBe(5);
  });

  it("takes a client message of exactly IFC_WS_MAX_MESSAGE_BYTES and closes on one byte more with 1009", async () => {
    const sized = (bytes: number): string => {
      const base = JSON.stringify({ type: "ping", pad: "" });
      return JSON.stringify({ type: "ping", pad: "x".repeat(bytes - base.length) });
    };
    const ws = await open("/ws/system-status");
    const msgs = collect(ws);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.send(sized(256));
    await waitFor(() => msgs.some((m) => m.type === "pong"), { what: "the pong" });
    expect(msgs.filter((m) => m.type === "pong").length).toBe(1);
    ws.send(sized(257));
    expect(await closed).toBe(1009);
  });

  it("refuses a bad stream name (400) and clients past the limit (503) as problem+json", async () => {
    const bad = await refused("/ws/streams/bad%20name");
    expect(bad.status).toBe(400);
    expect(bad.body.type).toBe("urn:imageflowcanvas:problem:invalid-stream-name");
    const held = await Promise.all([1, 2, 3, 4].map(() => open("/ws/system-status")));
    const full = await refused("/ws/system-status");
    expect(full.status).toBe(503);
    expect(full.body.type).toBe("urn:imageflowcanvas:problem:too-many-websocket-clients");
    for (const ws of held) ws.close();
  });
});
