import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { StreamRegistry } from "../../src/core/stream-registry.js";
import type { RtspAuthorizer } from "../../src/ingest/rtsp/authorizer.js";
import { RtspServer } from "../../src/ingest/rtsp/server.js";
import { h264Sdp, RawRtspClient } from "../support/rtsp-raw-client.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The real RTSP server with an authorizer the test holds (the only part not real): a request
 * can be kept waiting in its connection's queue while the server decides to close.
 */
class GatedAuthorizer implements RtspAuthorizer {
  held = 0;
  private release: (() => void) | undefined;
  authorize(stream: string): Promise<{ identity: string }> {
    if (stream !== "held") return Promise.resolve({ identity: "test" });
    this.held++;
    return new Promise((resolve) => (this.release = () => resolve({ identity: "test" })));
  }
  open(): void {
    this.release?.();
  }
}

let server: RtspServer | undefined;
let client: RawRtspClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  server = undefined;
  client = undefined;
});

describe("RTSP connection close order", () => {
  it("a session timeout closes the connection only after the requests already read are answered, in order", async () => {
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 64 });
    const auth = new GatedAuthorizer();
    server = new RtspServer(registry, auth, {
      host: "127.0.0.1", port: 0, maxConnections: 4, sessionTimeoutMs: 60_000, rtpSilenceTimeoutMs: 500,
      maxHeaderBytes: 16_384, maxBodyBytes: 65_536, writeBufferBytes: 1 << 20,
      ingest: { reorderWindowPackets: 32, clockDriftToleranceMs: 1000 }, reader: { queueFrames: 64, maxPacketBytes: 1472 }, realm: "ifc",
    }, { host: "127.0.0.1", min: 0, max: 0, recvBufferBytes: 0 }, pino({ level: "silent" }));
    const port = await server.listen();
    client = await RawRtspClient.open(port);
    const base = `rtsp://127.0.0.1:${port}/cam`;
    const announced = await client.request("ANNOUNCE", base, { "Content-Type": "application/sdp" }, h264Sdp());
    expect(announced.status).toBe(200);
    const session = announced.headers.get("Session")?.split(";")[0] ?? "";
    expect((await client.request("SETUP", `${base}/streamid=0`, { Session: session, Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record" })).status).toBe(200);
    expect((await client.request("RECORD", base, { Session: session })).status).toBe(200);
    // No RTP follows: IFC_RTP_SILENCE_TIMEOUT_MS (500) ends the session and closes its connection.
    // Before it does, a DESCRIBE waits on authorization and an OPTIONS behind it.
    client.write(`DESCRIBE rtsp://127.0.0.1:${port}/held RTSP/1.0\r\nCSeq: 10\r\n\r\nOPTIONS ${base} RTSP/1.0\r\nCSeq: 11\r\n\r\n`);
    await waitFor(() => auth.held === 1, { what: "the DESCRIBE waiting on authorization" });
    await waitFor(() => server?.stats().timedOut === 1, { what: "the publishing session timed out" });
    expect(client.isClosed).toBe(false);
    auth.open();
    const describe = await client.next();
    const options = await client.next();
    expect([describe.headers.get("CSeq"), describe.status]).toEqual(["10", 404]);
    expect([options.headers.get("CSeq"), options.status]).toEqual(["11", 200]);
    await client.waitClosed();
  }, 20_000);
});
