import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { datagramKind, NetRelay, seededRandom, type NetRelayOptions } from "../../support/net-relay.js";
import { waitFor } from "../../support/wait-for.js";

/** A plain UDP endpoint that records what it receives: `server` stands for the server, `client` for the peer. */
interface Endpoint {
  socket: Socket;
  port: number;
  got: { seq: number; at: number; from: RemoteInfo }[];
  send(seq: number, port: number, size?: number): void;
  close(): Promise<void>;
}

const open: (Endpoint | NetRelay)[] = [];

async function endpoint(): Promise<Endpoint> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const got: Endpoint["got"] = [];
  // an RTP-looking datagram (version 2, payload type 96) carrying a sequence number
  socket.on("message", (msg, from) => got.push({ seq: msg.readUInt32BE(4), at: performance.now(), from }));
  const ep: Endpoint = {
    socket,
    port: socket.address().port,
    got,
    send(seq, port, size = 100) {
      const b = Buffer.alloc(size);
      b[0] = 0x80;
      b[1] = 96;
      b.writeUInt32BE(seq, 4);
      socket.send(b, port, "127.0.0.1");
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  open.push(ep);
  return ep;
}

/** A relay from a fresh client endpoint to a fresh server endpoint. */
async function rig(opts: NetRelayOptions = {}): Promise<{ relay: NetRelay; client: Endpoint; server: Endpoint }> {
  const server = await endpoint();
  const client = await endpoint();
  const relay = await NetRelay.start({ ...opts, target: { address: "127.0.0.1", port: server.port } });
  open.push(relay);
  // the flow's upstream socket is made on the first datagram: open it before counting anything
  client.send(0xffffffff, relay.address.port);
  await waitFor(() => server.got.length === 1, { what: "the first datagram through the relay" });
  server.got.length = 0;
  return { relay, client, server };
}

/** Sends `n` numbered datagrams in one burst and waits until the relay has dealt with all of them. */
async function burst(r: { relay: NetRelay; client: Endpoint; server: Endpoint }, n: number): Promise<void> {
  const start = r.relay.counters("up").received;
  for (let i = 0; i < n; i++) r.client.send(i, r.relay.address.port);
  await waitFor(() => r.relay.counters("up").received - start >= n, { what: `${n} datagrams at the relay` });
}

afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

describe("seededRandom", () => {
  it("repeats for one seed and differs between seeds, uniform enough", () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(c()).not.toBe(xs[0]);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});

describe("datagramKind", () => {
  it("tells STUN, DTLS, RTP and RTCP apart as RFC 7983 does", () => {
    expect(datagramKind(Buffer.from([0x00, 0x01]))).toBe("stun");
    expect(datagramKind(Buffer.from([22, 0xfe]))).toBe("dtls");
    expect(datagramKind(Buffer.from([0x80, 96]))).toBe("rtp");
    expect(datagramKind(Buffer.from([0x80, 0x80 | 96]))).toBe("rtp"); // marker bit set
    expect(datagramKind(Buffer.from([0x81, 201]))).toBe("rtcp");
    expect(datagramKind(Buffer.from([0x81, 206]))).toBe("rtcp");
    expect(datagramKind(Buffer.from([0xff]))).toBe("other");
  });
});

describe("NetRelay", () => {
  it("forwards both ways unimpaired, and the server sees the relay's upstream port", async () => {
    const r = await rig();
    await burst(r, 200);
    await waitFor(() => r.server.got.length === 200, { what: "200 datagrams at the server" });
    expect(r.server.got.map((g) => g.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(r.server.got[0]?.from.port).toBe(r.relay.upstreamPorts[0]);
    for (let i = 0; i < 50; i++) r.server.send(i, r.relay.upstreamPorts[0] as number);
    await waitFor(() => r.client.got.length === 50, { what: "50 replies at the client" });
    expect(r.client.got[0]?.from.port).toBe(r.relay.address.port);
    expect(r.relay.counters("up")).toMatchObject({ forwarded: 201, dropped: 0, duplicated: 0, reordered: 0 });
    expect(r.relay.counters("up").forwardedByKind.rtp).toBe(201);
    expect(r.relay.counters("down")).toMatchObject({ received: 50, forwarded: 50 });
  });

  it("loses a seeded share within binomial bounds, the same datagrams for the same seed, per direction", async () => {
    const n = 2000;
    const runs: number[][] = [];
    for (const seed of [42, 42, 43]) {
      const r = await rig({ seed, up: { lossPercent: 10 } });
      await burst(r, n);
      const c = r.relay.counters("up");
      expect(c.dropped + c.forwarded).toBe(n + 1);
      await waitFor(() => r.server.got.length === c.forwarded - 1, { what: "every forwarded datagram at the server" });
      // n = 2000, p = 0.1: σ ≈ 13.4; ±5σ
      expect(c.dropped).toBeGreaterThan(200 - 67);
      expect(c.dropped).toBeLessThan(200 + 67);
      expect(c.droppedByKind.rtp).toBe(c.dropped);
      runs.push(r.server.got.map((g) => g.seq));
      // the other direction is untouched
      for (let i = 0; i < 100; i++) r.server.send(i, r.relay.upstreamPorts[0] as number);
      await waitFor(() => r.client.got.length === 100, { what: "100 replies, none lost" });
      expect(r.relay.counters("down").dropped).toBe(0);
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).not.toEqual(runs[0]);
  });

  it("delays each datagram by delay ± jitter, keeping order", async () => {
    const r = await rig({ up: { delayMs: 40, jitterMs: 15 } });
    // ping-pong, so each datagram's delay is its own (no queue behind the previous one)
    const latencies: number[] = [];
    for (let i = 0; i < 60; i++) {
      const sentAt = performance.now();
      r.client.send(i, r.relay.address.port);
      await waitFor(() => r.server.got.length === i + 1, { intervalMs: 1, what: `datagram ${i}` });
      latencies.push((r.server.got[i]?.at ?? 0) - sentAt);
    }
    const min = Math.min(...latencies);
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[30] ?? 0;
    console.log(`latency with 40 ± 15 ms: min ${min.toFixed(1)}, median ${median.toFixed(1)}, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms`);
    // never early (a timer can fire up to 1 ms early by rounding); late only by scheduling
    expect(min).toBeGreaterThanOrEqual(40 - 15 - 1);
    expect(median).toBeGreaterThan(30);
    expect(median).toBeLessThan(40 + 15 + 20);
    // jitter is there: the spread covers most of the ±15 ms window
    expect((sorted[54] ?? 0) - (sorted[5] ?? 0)).toBeGreaterThan(10);
    // and a burst keeps its order despite the jitter
    r.server.got.length = 0;
    await burst(r, 300);
    await waitFor(() => r.server.got.length === 300, { what: "the burst" });
    expect(r.server.got.map((g) => g.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it("reorders by swapping a datagram with its successor, and counts each swap", async () => {
    const r = await rig({ seed: 3, up: { reorderPercent: 10 } });
    await burst(r, 1000);
    await waitFor(() => r.server.got.length === 1000, { what: "all 1000 datagrams (reordering loses none)" });
    const seqs = r.server.got.map((g) => g.seq);
    let inversions = 0;
    for (let i = 1; i < seqs.length; i++) if ((seqs[i] ?? 0) < (seqs[i - 1] ?? 0)) inversions++;
    const c = r.relay.counters("up");
    expect(c.reordered).toBeGreaterThan(50);
    expect(c.reordered).toBeLessThan(150);
    expect(inversions).toBe(c.reordered);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("releases a held datagram when nothing comes to overtake it", async () => {
    const r = await rig({ up: { reorderPercent: 100 }, reorderMaxHoldMs: 30 });
    const sentAt = performance.now();
    r.client.send(7, r.relay.address.port);
    await waitFor(() => r.server.got.length === 1, { what: "the held datagram" });
    expect((r.server.got[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(29);
    expect(r.relay.counters("up").reordered).toBe(0);
  });

  it("duplicates a seeded share", async () => {
    const r = await rig({ seed: 9, up: { duplicatePercent: 5 } });
    await burst(r, 2000);
    const c = r.relay.counters("up");
    await waitFor(() => r.server.got.length === 2000 + c.duplicated, { what: "originals and duplicates" });
    // n = 2000, p = 0.05: σ ≈ 9.7; ±5σ
    expect(c.duplicated).toBeGreaterThan(100 - 49);
    expect(c.duplicated).toBeLessThan(100 + 49);
    expect(new Set(r.server.got.map((g) => g.seq)).size).toBe(2000);
  });

  it("cut(ms) drops everything both ways for its length, then forwards again", async () => {
    const r = await rig();
    const upstream = r.relay.upstreamPorts[0] as number;
    const cutAt = performance.now();
    const ended = r.relay.cut(300);
    expect(r.relay.isCut).toBe(true);
    await burst(r, 100);
    for (let i = 0; i < 40; i++) r.server.send(i, upstream);
    await waitFor(() => r.relay.counters("down").received === 40, { what: "replies at the relay" });
    expect(r.relay.counters("up").cut).toBe(100);
    expect(r.relay.counters("down").cut).toBe(40);
    await ended;
    expect(performance.now() - cutAt).toBeGreaterThanOrEqual(299);
    expect(r.relay.isCut).toBe(false);
    expect(r.server.got.length).toBe(0);
    expect(r.client.got.length).toBe(0);
    await burst(r, 10);
    await waitFor(() => r.server.got.length === 10, { what: "traffic after the cut" });
  });

  it("cut() lasts until restore()", async () => {
    const r = await rig();
    const ended = r.relay.cut();
    await burst(r, 20);
    expect(r.relay.isCut).toBe(true);
    r.relay.restore();
    await ended;
    await burst(r, 20);
    await waitFor(() => r.server.got.length === 20, { what: "traffic after restore" });
    expect(r.relay.counters("up").cut).toBe(20);
  });

  it("rebind() gives the flow a new source port; the old address reaches nobody", async () => {
    const r = await rig();
    const before = r.relay.upstreamPorts[0] as number;
    const [after] = await r.relay.rebind();
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(r.relay.rebindCount).toBe(1);
    r.client.send(1, r.relay.address.port);
    await waitFor(() => r.server.got.length === 1, { what: "a datagram from the new address" });
    expect(r.server.got[0]?.from.port).toBe(after);
    r.server.send(1, before); // to the old binding: gone
    r.server.send(2, after as number);
    await waitFor(() => r.client.got.length === 1, { what: "the reply to the new address" });
    expect(r.client.got[0]?.seq).toBe(2);
    expect(r.relay.counters("down").received).toBe(1);
  });

  it("changes settings at any time, per direction", async () => {
    const r = await rig();
    r.relay.set({ lossPercent: 100 }, "up");
    expect(r.relay.impairment("up").lossPercent).toBe(100);
    expect(r.relay.impairment("down").lossPercent).toBe(0);
    await burst(r, 50);
    expect(r.relay.counters("up").dropped).toBe(50);
    r.relay.set({ lossPercent: 0 });
    await burst(r, 50);
    await waitFor(() => r.server.got.length === 50, { what: "traffic after the loss is lifted" });
  });

  it("routes an answer through itself: one candidate, the relay's, and the server's as target", async () => {
    const relay = await NetRelay.start();
    open.push(relay);
    const answer = [
      "v=0", "o=- 1 0 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
      "m=video 9 UDP/TLS/RTP/SAVPF 102", "c=IN IP4 0.0.0.0", "a=mid:0",
      "a=candidate:1 1 udp 2130706431 192.0.2.2 40001 typ host",
      "a=candidate:2 1 udp 2130706175 127.0.0.1 40002 typ host",
      "a=candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype passive",
      "a=candidate:4 1 udp 2130706000 ::1 40003 typ host",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:1",
      "a=candidate:2 1 udp 2130706175 127.0.0.1 40002 typ host", "",
    ].join("\r\n");
    const out = relay.routeAnswer(answer);
    expect(relay.serverAddress).toEqual({ address: "127.0.0.1", port: 40002 });
    const cands = out.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
    expect(cands).toEqual([
      `a=candidate:2 1 udp 2130706175 127.0.0.1 ${relay.address.port} typ host`,
      `a=candidate:2 1 udp 2130706175 127.0.0.1 ${relay.address.port} typ host`,
    ]);
    expect(out).toContain("a=mid:1");
    expect(() => relay.routeAnswer("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n")).toThrow(/no UDP\/IPv4 candidate/);
  });

  it("close() leaves no socket or timer behind, with datagrams still queued", async () => {
    const r = await rig();
    r.relay.set({ delayMs: 10_000 }, "up");
    r.relay.set({ reorderPercent: 100 }, "down");
    await burst(r, 10);
    r.server.send(1, r.relay.upstreamPorts[0] as number);
    await waitFor(() => r.relay.counters("down").received === 1, { what: "a held reply" });
    void r.relay.cut(60_000);
    const count = (kind: string): number => process.getActiveResourcesInfo().filter((x) => x === kind).length;
    const udpBefore = count("UDPWrap");
    const timersBefore = count("Timeout");
    await r.relay.close();
    await r.relay.close();
    // the relay's listener and upstream socket are gone (the two endpoints remain); libuv frees a
    // handle one loop turn after its close event
    await waitFor(() => count("UDPWrap") === udpBefore - 2, { what: "the relay's two sockets freed" });
    // its delay queue, hold and cut timers are gone
    expect(count("Timeout")).toBeLessThanOrEqual(timersBefore - 3);
    expect(r.server.got.length).toBe(0);
  });
});
