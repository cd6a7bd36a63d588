import { afterEach, describe, expect, it } from "vitest";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { loadConfig } from "../../src/config.js";
import { closePeerGracefully } from "../../src/rtc/peer-close.js";
import { execFileSync } from "node:child_process";
import { liveSocketDrops, peerLocalPorts, peerSocketDrops, resetCappedWarning } from "../../src/rtc/socket-buffer.js";
import { answerOffer, peerOptionsFrom, type PeerOptions } from "../../src/rtc/werift-peer.js";
import { dtlsSocket, dtlsTransports, iceConnections, udpSockets } from "../../src/rtc/werift-internals.js";
import { disableDefaultStun, waitConnected, waitIceGathered } from "../helpers/werift-ice.js";
import { countByes } from "../support/rtcp-bye.js";

/**
 * Two werift peers in this process: a "client" that sends video and our server-side peer set up
 * by answerOffer, as WHIP does. What the server does at the end of a session, and how it sizes
 * its sockets, is observed on real sockets.
 */
const H264 = () => new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 96, parameters: "packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }] });

const peers: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close().catch(() => undefined)));
  resetCappedWarning();
});

function serverOptions(over: Partial<PeerOptions> = {}): PeerOptions {
  const cfg = loadConfig({}, { rtcInterfaceAddress: "127.0.0.1" });
  return { ...peerOptionsFrom(cfg), ...over };
}

async function connectedPair(peer: PeerOptions): Promise<{ client: RTCPeerConnection; server: RTCPeerConnection }> {
  const client = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, bundlePolicy: "max-bundle", codecs: { video: [H264()] } });
  const server = new RTCPeerConnection({ ...peer.config, codecs: { video: [H264()] } });
  peers.push(client, server);
  client.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  await client.setLocalDescription(await client.createOffer());
  disableDefaultStun(client);
  await waitIceGathered(client);
  const answer = await answerOffer(server, client.localDescription?.sdp ?? "", peer, (ts) => ts.forEach((t) => t.setDirection("recvonly")));
  const connected = Promise.all([waitConnected(client, 15_000), waitConnected(server, 15_000)]);
  await client.setRemoteDescription({ type: "answer", sdp: answer });
  await connected;
  return { client, server };
}


describe("werift internals (0.25.2) this fix reaches into", () => {
  it("are where src/rtc/werift-internals.ts expects them", async () => {
    const { server } = await connectedPair(serverOptions());
    expect(iceConnections(server)).toHaveLength(1);
    expect(udpSockets(server).length).toBeGreaterThan(0);
    const [t] = dtlsTransports(server);
    expect(t && dtlsSocket(t)).toBeDefined();
  });
});

describe("closePeerGracefully", () => {
  it("reaches a werift peer as RTCP BYE and DTLS close_notify, well within 1 s", async () => {
    const { client, server } = await connectedPair(serverOptions());
    const [clientTransport] = dtlsTransports(client);
    if (!clientTransport) throw new Error("no client transport");
    const byes = countByes(clientTransport);
    const closed = new Promise<number>((resolve) => {
      clientTransport.onStateChange.subscribe((s) => {
        if (s === "closed") resolve(Date.now());
      });
    });
    const t0 = Date.now();
    await closePeerGracefully(server);
    const closedAt = await closed;
    expect(closedAt - t0).toBeLessThan(1000);
    expect(byes()).toBe(1);
    expect(server.connectionState).toBe("closed");
  });

  it("returns within its budget when the peer is already gone", async () => {
    const { client, server } = await connectedPair(serverOptions());
    await client.close();
    const t0 = Date.now();
    await closePeerGracefully(server);
    expect(Date.now() - t0).toBeLessThan(1100);
  });
});

describe("UDP receive buffer (IFC_RTC_RECV_BUFFER_BYTES)", () => {
  it("every socket of a session gets the size asked for (the kernel reports it doubled on Linux)", async () => {
    const warnings: string[] = [];
    const { server } = await connectedPair(serverOptions({ recvBufferBytes: 150_000, warn: (_o, m) => warnings.push(m) }));
    for (const s of udpSockets(server)) expect(s.getRecvBufferSize()).toBe(process.platform === "linux" ? 300_000 : 150_000);
    expect(warnings).toEqual([]);
    expect(peerSocketDrops(server)).toBe(process.platform === "linux" ? 0 : undefined);
  });

  it("0 keeps the kernel default", async () => {
    const { server } = await connectedPair(serverOptions({ recvBufferBytes: 0 }));
    const fresh = (await import("node:dgram")).createSocket("udp4");
    await new Promise<void>((r) => fresh.bind(0, "127.0.0.1", r));
    const kernelDefault = fresh.getRecvBufferSize();
    fresh.close();
    for (const s of udpSockets(server)) expect(s.getRecvBufferSize()).toBe(kernelDefault);
  });

  it("a size above net.core.rmem_max is capped, and one warning per process names the sysctl", async () => {
    const { readFileSync } = await import("node:fs");
    const max = Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8"));
    const warnings: string[] = [];
    const warn = (_o: Record<string, unknown>, m: string): void => void warnings.push(m);
    const ask = max + 4096;
    const { server } = await connectedPair(serverOptions({ recvBufferBytes: ask, warn }));
    for (const s of udpSockets(server)) expect(s.getRecvBufferSize()).toBe(max * 2);
    await connectedPair(serverOptions({ recvBufferBytes: ask, warn }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`sysctl -w net.core.rmem_max=${ask}`);
  });

  it("drops at a full socket are counted per session and for the process (/proc/net/udp)", async () => {
    // The smallest buffer, and this process blocked while another floods the socket: the
    // kernel can only drop. (The datagrams are junk to werift, which ignores them.)
    const { server } = await connectedPair(serverOptions({ recvBufferBytes: 4096 }));
    const [port] = peerLocalPorts(server);
    const flood = `const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(1200,255);let n=0;const go=()=>{for(let i=0;i<50;i++)s.send(b,${port},"127.0.0.1");if(++n<40)setImmediate(go);else setTimeout(()=>s.close(),200)};go();`;
    execFileSync(process.execPath, ["-e", flood]);
    const drops = peerSocketDrops(server) ?? 0;
    expect(drops).toBeGreaterThan(100);
    expect(liveSocketDrops()).toBeGreaterThanOrEqual(drops);
    // A closed session leaves the process-wide sum (no other session of this file is live now).
    await server.close();
    expect(liveSocketDrops()).toBe(0);
  });
});
