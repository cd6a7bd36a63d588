import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RTCPeerConnection } from "werift";
import { iceConnections } from "../../src/rtc/werift-internals.js";
import { whipPublish } from "../helpers/whip-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * werift 0.25 hangs its DTLS handshake for good on one lost handshake datagram (see
 * src/rtc/werift-dtls-order.ts and docs/upstream/werift-dtls-retransmit.md). With the ordering
 * gate, losing any single datagram of the handshake, either way, costs one retransmission
 * (werift's first timer is 500 ms), not the connection. Losses towards the server are run
 * against a publisher without the gate (as a browser, whose DTLS is sound, would be), so they
 * test the server's gate alone; losses towards the publisher need the test client's gate.
 *
 * The server answers, so it is the DTLS client (ClientHello ×2, Certificate, ClientKeyExchange,
 * CertificateVerify, ChangeCipherSpec, Finished) and the werift publisher the DTLS server
 * (HelloVerifyRequest, ServerHello, Certificate, ServerKeyExchange, CertificateRequest,
 * ServerHelloDone, ChangeCipherSpec, Finished).
 */
const CONNECT_TIMEOUT_MS = 10_000;
/** One retransmission round and a busy machine's slack; a hang is ≥ 30 s. */
const WITHIN_MS = 5_000;
const FROM_SERVER = 7;
const FROM_CLIENT = 8;

const isDtls = (b: Buffer): boolean => b.length > 0 && b[0]! >= 20 && b[0]! <= 63;

interface EventLike {
  execute(...args: unknown[]): void;
}

/** Drops the n-th DTLS datagram (1-based) the publisher sends, or the n-th it receives from the server. */
function dropNth(direction: "to-server" | "from-server", n: number, dropped: Buffer[]): (pc: RTCPeerConnection) => void {
  return (pc) => {
    let seen = 0;
    const hit = (b: Buffer): boolean => {
      if (!isDtls(b) || ++seen !== n) return false;
      dropped.push(b);
      return true;
    };
    for (const c of iceConnections(pc)) {
      if (direction === "to-server") {
        const send = c.send.bind(c);
        c.send = (data) => (hit(data) ? Promise.resolve() : send(data));
      } else {
        const onData = (c as unknown as { onData: EventLike }).onData;
        const execute = onData.execute.bind(onData);
        onData.execute = (...args: unknown[]) => {
          if (!(args[0] instanceof Buffer && hit(args[0]))) execute(...args);
        };
      }
    }
  };
}

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(async () => {
  await ts?.stop();
});

const cases = [...Array.from({ length: FROM_SERVER }, (_, i) => ["from-server", i + 1] as const), ...Array.from({ length: FROM_CLIENT }, (_, i) => ["to-server", i + 1] as const)];

describe("a lost DTLS handshake datagram (werift publisher ↔ server)", () => {
  it.each(cases)("%s datagram #%i lost: connected after a retransmission", async (direction, n) => {
    const dropped: Buffer[] = [];
    const started = Date.now();
    const pub = await whipPublish(`${ts.url}/whip/dtls-${direction}-${n}`, {
      audio: false,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      // A loss towards the server is the server's to survive: the publisher keeps werift's own DTLS.
      dtlsOrder: direction === "from-server",
      onPeer: dropNth(direction, n, dropped),
    });
    try {
      expect(dropped).toHaveLength(1);
      expect(pub.pc.connectionState).toBe("connected");
      expect(Date.now() - started).toBeLessThan(WITHIN_MS);
    } finally {
      await pub.close();
    }
  });
});
