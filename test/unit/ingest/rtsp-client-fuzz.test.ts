/**
 * A camera answering nonsense must not harm the server: the pull client's describe/play end in
 * a typed RtspClientError (or succeed), never an uncaught exception, a hang past its timeout, or
 * a leaked socket. The camera is a loopback TCP server replaying fuzzed answers (near-valid
 * DESCRIBE/SETUP responses from mutated lines, and raw bytes).
 */
import fc from "fast-check";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtspClient, RtspClientError } from "../../../src/ingest/rtsp/client.js";
import { fuzzParams, mutatedLines } from "../../support/fuzz.js";

const SDP = ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=cam", "t=0 0", "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwPI8YMkgA==,aMuDyyA=", "a=control:trackID=0", "m=audio 0 RTP/AVP 97", "a=rtpmap:97 MPEG4-GENERIC/44100/1", "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1208", "a=control:trackID=1"];

/** What the camera answers to the next request: the `{cseq}` of each is filled in. */
let script: (method: string) => Buffer = () => Buffer.alloc(0);
let server: Server;
let port = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    let buf = "";
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const cseq = /\r\nCSeq:\s*(\d+)/i.exec(head)?.[1] ?? "0";
        const method = head.split(" ")[0] ?? "";
        socket.write(Buffer.from(script(method).toString("latin1").replaceAll("{cseq}", cseq), "latin1"));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

function response(headLines: string[], body = ""): Buffer {
  return Buffer.from(`${headLines.join("\r\n")}\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`, "latin1");
}

const ok = (method: string): Buffer =>
  method === "SETUP" ? response(["RTSP/1.0 200 OK", "CSeq: {cseq}", "Session: 1234;timeout=60", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"]) : response(["RTSP/1.0 200 OK", "CSeq: {cseq}"]);

async function pull(): Promise<unknown> {
  const closes: RtspClientError[] = [];
  const c = new RtspClient(
    { url: `rtsp://u:p@127.0.0.1:${port}/cam`, transport: "tcp", timeoutMs: 100, limits: { maxHeaderBytes: 4096, maxBodyBytes: 8192 }, udpRecvBufferBytes: 0 },
    { onRtp: () => undefined, onRtcp: () => undefined, onClose: (err) => closes.push(err) },
  );
  try {
    await c.describe();
    await c.play();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await c.close();
    for (const e of closes) expect(e).toBeInstanceOf(RtspClientError);
  }
}

describe("RtspClient on a camera answering nonsense", () => {
  it("near-valid DESCRIBE answers (mutated headers and SDP): a typed error or a session, never a throw", async () => {
    const head = ["RTSP/1.0 200 OK", "CSeq: {cseq}", "Content-Type: application/sdp", "Content-Base: rtsp://127.0.0.1/cam/"];
    await fc.assert(
      fc.asyncProperty(mutatedLines(head), mutatedLines(SDP), async (h, sdp) => {
        script = (method) => (method === "DESCRIBE" ? response(h.split("\n"), sdp.split("\n").join("\r\n")) : ok(method));
        const err = await pull();
        if (err !== undefined) expect(err).toBeInstanceOf(RtspClientError);
      }),
      fuzzParams(60),
    );
  });

  it("raw bytes for any answer: a typed error, never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.constantFrom("OPTIONS", "DESCRIBE", "SETUP", "PLAY"), async (bytes, when) => {
        script = (method) => (method === when ? Buffer.from(bytes) : method === "DESCRIBE" ? response(["RTSP/1.0 200 OK", "CSeq: {cseq}", "Content-Type: application/sdp"], SDP.join("\r\n") + "\r\n") : ok(method));
        const err = await pull();
        if (err !== undefined) expect(err).toBeInstanceOf(RtspClientError);
      }),
      fuzzParams(40),
    );
  });
});
