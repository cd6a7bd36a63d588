import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { WsChannel, WS_CLOSE } from "../../src/distributor/ws/ws-channel.js";
import { waitFor } from "../support/wait-for.js";

/** The channel over real sockets: a client that stops reading is dropped, the others go on. */
let http: Server | undefined;
let wss: WebSocketServer | undefined;

afterEach(async () => {
  wss?.close();
  await new Promise((r) => (http ? http.close(r) : r(undefined)));
});

async function serve(onChannel: (ch: WsChannel) => void, opts: { maxBufferedBytes: number; maxMessagesPerMinute: number; now?: () => number; onRateLimited?: () => void }): Promise<string> {
  http = createServer();
  wss = new WebSocketServer({ server: http });
  wss.on("connection", (socket) => onChannel(new WsChannel(socket, opts)));
  await new Promise<void>((r) => http?.listen(0, "127.0.0.1", r));
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

describe("WsChannel over real WebSockets", () => {
  it("drops a client that does not read once its buffer overflows, without stalling another", async () => {
    const channels: WsChannel[] = [];
    const url = await serve((ch) => channels.push(ch), { maxBufferedBytes: 256 * 1024, maxMessagesPerMinute: 100 });
    const slow = new WebSocket(url);
    const fast = new WebSocket(url);
    await Promise.all([slow, fast].map((c) => new Promise((r) => c.once("open", r))));
    // The slow client's socket stops reading: the kernel buffers fill, then the channel's.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    let fastReceived = 0;
    fast.on("message", () => fastReceived++);
    const slowClosed = new Promise<number>((r) => slow.once("close", (code) => r(code)));
    await waitFor(() => channels.length === 2, { what: "both channels on the server" });
    const payload = { type: "detections", blob: "x".repeat(64 * 1024) };
    let sentToFast = 0;
    let slowRefusedAt = -1;
    for (let i = 0; i < 2000 && slowRefusedAt < 0; i++) {
      for (const ch of channels) {
        const ok = ch.send(payload);
        if (ch === channels[1] && ok) sentToFast++;
        if (ch === channels[0] && !ok) slowRefusedAt = i;
      }
      // let the fast client drain between bursts, as a live feed would
      if (i % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(slowRefusedAt).toBeGreaterThan(0);
    expect(channels[0]?.isOpen).toBe(false);
    // the fast client gets everything sent to it, and it is still open
    await waitFor(() => fastReceived === sentToFast, { what: `all ${sentToFast} messages at the fast client` });
    expect(channels[1]?.isOpen).toBe(true);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slowClosed).toBe(WS_CLOSE.slowConsumer);
    fast.close();
  });

  it("closes a client past its message rate with 1008, and refills the budget over time", async () => {
    let t = 0;
    let limited = 0;
    const url = await serve(
      (ch) => {
        ch.socket.on("message", () => {
          if (ch.admitClientMessage()) ch.send({ type: "ok" });
        });
      },
      { maxBufferedBytes: 1024 * 1024, maxMessagesPerMinute: 5, now: () => t, onRateLimited: () => limited++ },
    );
    const c = new WebSocket(url);
    await new Promise((r) => c.once("open", r));
    let oks = 0;
    c.on("message", () => oks++);
    const closed = new Promise<{ code: number; reason: string }>((r) => c.once("close", (code, reason) => r({ code, reason: reason.toString() })));
    // each admitted message is answered, in order: the answers are the round trip waited on
    for (let i = 0; i < 5; i++) c.send("{}");
    await waitFor(() => oks === 5, { what: "5 answers" });
    t += 12_000; // one more message's worth of budget (5 per minute)
    c.send("{}");
    await waitFor(() => oks === 6, { what: "the 6th answer" });
    c.send("{}"); // over
    const { code, reason } = await closed;
    expect(code).toBe(WS_CLOSE.rateLimited);
    expect(reason).toMatch(/5 messages per minute/);
    expect(oks).toBe(6);
    expect(limited).toBe(1);
  });

  it("admits exactly N messages in a minute and refuses the N+1-th", async () => {
    const t = 0;
    const url = await serve(
      (ch) => {
        ch.socket.on("message", () => {
          if (ch.admitClientMessage()) ch.send({ type: "ok" });
        });
      },
      { maxBufferedBytes: 1024 * 1024, maxMessagesPerMinute: 100, now: () => t },
    );
    const c = new WebSocket(url);
    await new Promise((r) => c.once("open", r));
    let oks = 0;
    c.on("message", () => oks++);
    const closed = new Promise<number>((r) => c.once("close", (code) => r(code)));
    for (let i = 0; i < 100; i++) c.send("{}");
    await waitFor(() => oks === 100, { what: "100 answers" });
    c.send("{}");
    expect(await closed).toBe(WS_CLOSE.rateLimited);
    expect(oks).toBe(100);
  });
});
