/**
 * A WHIP endpoint that only receives: werift as the server uses it (the checked replacements
 * installed, the same peer options) answering each POST and counting the RTP packets it is
 * handed. No depacketizing, recording or forwarding: bench/transport-receive.ts measures what the
 * WebRTC transport alone costs per stream, the part of the server's cost a different WebRTC stack
 * could change.
 * Talks to its parent over IPC:
 *   out: { type: "ready", port }, then on { type: "count" }: { type: "count", packets, bytes, sessions }
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ReceiverReport = { type: "ready"; port: number } | { type: "count"; packets: number; bytes: number; sessions: number };

interface Counter {
  packets: number;
  bytes: number;
}

type Answerer = (offer: string, count: Counter) => Promise<string>;

async function weriftAnswerer(): Promise<Answerer> {
  const { RTCPeerConnection, RTCRtpCodecParameters } = await import("werift");
  const { installFastRtpHeaderParsing } = await import("../../src/rtc/werift-fast-rtp.js");
  const { installNativeX25519 } = await import("../../src/rtc/werift-native-x25519.js");
  const { installReceivePathFastPaths } = await import("../../src/rtc/werift-receive-path.js");
  const { answerOffer } = await import("../../src/rtc/werift-peer.js");
  // The same werift the server runs: its checked replacements in place.
  const installed = [installFastRtpHeaderParsing(), installNativeX25519(), ...Object.values(installReceivePathFastPaths())];
  if (installed.some((r) => r === "disagrees" || r === false)) throw new Error(`werift's replacements not all installed: ${JSON.stringify(installed)}`);
  const peer = { config: { iceServers: [], iceUseIpv4: true, iceUseIpv6: false }, hasStun: false, recvBufferBytes: 4 * 1024 * 1024, iceRestartTimeoutMs: 10_000, dtlsStartDelayMs: Number(process.env.IFC_DTLS_START_DELAY_MS ?? 10) };
  return async (offer, count) => {
    const pc = new RTCPeerConnection({
      ...peer.config,
      codecs: {
        // As the server answers a publisher: H.264 with NACK, PLI and REMB feedback.
        video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }], parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" })],
        audio: [],
      },
    });
    pc.onTrack.subscribe((track) =>
      track.onReceiveRtp.subscribe((rtp) => {
        count.packets++;
        count.bytes += rtp.payload.length;
      }),
    );
    return answerOffer(pc, offer, peer, (ts) => ts.forEach((t) => t.setDirection("recvonly")));
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<void> {
  const answer = await weriftAnswerer();
  const count: Counter = { packets: 0, bytes: 0 };
  let sessions = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST") return void res.writeHead(405).end();
    readBody(req)
      .then((offer) => answer(offer, count))
      .then((sdp) => {
        sessions++;
        res.writeHead(201, { "content-type": "application/sdp", location: `${req.url ?? "/"}/${sessions}` }).end(sdp);
      })
      .catch((err: unknown) => {
        console.error(err);
        res.writeHead(500).end(String(err));
      });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.on("message", (m: { type: string }) => {
    if (m.type === "count") process.send?.({ type: "count", packets: count.packets, bytes: count.bytes, sessions } satisfies ReceiverReport);
  });
  process.on("disconnect", () => process.exit(0));
  process.send?.({ type: "ready", port: (server.address() as AddressInfo).port } satisfies ReceiverReport);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
