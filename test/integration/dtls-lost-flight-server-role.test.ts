import { afterEach, describe, expect, it } from "vitest";
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { orderDtlsHandshakes } from "../../src/rtc/werift-dtls-order.js";
import { iceConnections } from "../../src/rtc/werift-internals.js";
import { disableDefaultStun, waitConnected, waitIceGathered } from "../helpers/werift-ice.js";

/**
 * The ordering gate (src/rtc/werift-dtls-order.ts) in the DTLS *server* role: the server's
 * peers answer, so in dtls-lost-flight.test.ts they are DTLS clients; a peer whose offer asks
 * the answerer to be passive makes them DTLS servers. Here two werift peers: the offerer
 * (ICE controlling, so werift's DTLS server) has the gate, the answerer (DTLS client) has
 * werift's own DTLS, and each datagram the answerer sends in the handshake is lost once
 * (ClientHello, ClientHello+cookie, Certificate, ClientKeyExchange, CertificateVerify,
 * ChangeCipherSpec, Finished). Without the gate #3–#5 and #7 hang or fail.
 */
const CLIENT_DATAGRAMS = 7;
const CONNECT_TIMEOUT_MS = 10_000;
const WITHIN_MS = 5_000;

const isDtls = (b: Buffer): boolean => b.length > 0 && b[0]! >= 20 && b[0]! <= 63;
const codecs = { video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, parameters: "packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: [] })] };

let peers: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.close()));
  peers = [];
});

describe("a lost DTLS handshake datagram, the gated peer as DTLS server", () => {
  it.each(Array.from({ length: CLIENT_DATAGRAMS }, (_, i) => i + 1))("DTLS client's datagram #%i lost: connected after a retransmission", async (n) => {
    const server = new RTCPeerConnection({ codecs, iceServers: [], iceUseIpv6: false });
    const client = new RTCPeerConnection({ codecs, iceServers: [], iceUseIpv6: false });
    peers = [server, client];
    server.addTransceiver("video", { direction: "sendonly" });
    const offer = await server.createOffer();
    disableDefaultStun(server);
    await server.setLocalDescription(offer);
    orderDtlsHandshakes(server);
    await waitIceGathered(server);
    await client.setRemoteDescription(server.localDescription!);
    disableDefaultStun(client);
    await client.setLocalDescription(await client.createAnswer());
    await waitIceGathered(client);

    const dropped: Buffer[] = [];
    let seen = 0;
    for (const c of iceConnections(client)) {
      const send = c.send.bind(c);
      c.send = (data) => {
        if (isDtls(data) && ++seen === n) {
          dropped.push(data);
          return Promise.resolve();
        }
        return send(data);
      };
    }
    const started = Date.now();
    const connected = Promise.all([waitConnected(server, CONNECT_TIMEOUT_MS), waitConnected(client, CONNECT_TIMEOUT_MS)]);
    await server.setRemoteDescription(client.localDescription!);
    await connected;
    expect(server.getTransceivers()[0]?.dtlsTransport?.role).toBe("server");
    expect(dropped).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
  });
});
