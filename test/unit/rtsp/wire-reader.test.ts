import { describe, expect, it } from "vitest";
import { RtspHeaders, RtspWireError, interleavedFrame, serializeRequest, serializeResponse } from "../../../src/ingest/rtsp/message.js";
import type { RtspRequest } from "../../../src/ingest/rtsp/message.js";
import { RtspWireReader } from "../../../src/ingest/rtsp/wire-reader.js";
import { CAPTURES, capture, recorder } from "./capture.js";

const methods = (units: string[]): string[] => units.map((u) => (u.startsWith("REQ ") ? (u.split(" ")[1] as string) : u.startsWith("$") ? "$" : "RES"));

describe("RtspWireReader on captured client bytes", () => {
  const expected: Record<(typeof CAPTURES)[number], string[]> = {
    "ffmpeg-push-tcp": ["OPTIONS", "ANNOUNCE", "ANNOUNCE", "SETUP", "SETUP", "RECORD", "$", "$", "$", "TEARDOWN"],
    "ffmpeg-push-udp": ["OPTIONS", "ANNOUNCE", "SETUP", "SETUP", "RECORD", "TEARDOWN"],
    "ffmpeg-read-udp": ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "PLAY", "TEARDOWN"],
    "ffprobe-read-tcp": ["OPTIONS", "DESCRIBE", "DESCRIBE", "SETUP", "SETUP", "PLAY", "TEARDOWN"],
    "gst-push-tcp": ["OPTIONS", "ANNOUNCE", "SETUP", "SETUP", "RECORD", "$", "$", "$", "PAUSE", "TEARDOWN"],
    "gst-push-udp-opus": ["OPTIONS", "ANNOUNCE", "SETUP", "SETUP", "RECORD", "PAUSE", "TEARDOWN"],
    "gst-read-tcp": ["OPTIONS", "DESCRIBE", "DESCRIBE", "SETUP", "SETUP", "PLAY"],
    "vlc-debian-satip-realrtsp": ["SETUP", "OPTIONS"],
  };

  for (const name of CAPTURES) {
    it(`${name}: frames every message, and the same at every split point and byte by byte`, () => {
      const bytes = capture(name);
      const whole = recorder();
      whole.feed(bytes);
      expect(whole.errors).toEqual([]);
      expect(methods(whole.units)).toEqual(expected[name]);
      expect(whole.reader.buffered).toBe(0);
      for (let i = 1; i < bytes.length; i++) {
        const r = recorder();
        r.feed(bytes.subarray(0, i));
        r.feed(bytes.subarray(i));
        if (r.units.length !== whole.units.length || r.units.some((u, k) => u !== whole.units[k])) expect({ split: i, units: r.units }).toEqual({ split: i, units: whole.units });
        expect(r.errors).toEqual([]);
      }
      const bytewise = recorder();
      for (let i = 0; i < bytes.length; i++) bytewise.feed(bytes.subarray(i, i + 1));
      expect(bytewise.units).toEqual(whole.units);
    });
  }

  it("reads the headers a connection needs: CSeq, Session, Transport, Content-Type, the ANNOUNCE body", () => {
    const reqs: RtspRequest[] = [];
    const reader = new RtspWireReader({ maxHeaderBytes: 4096, maxBodyBytes: 4096 }, { onRequest: (q) => reqs.push(q), onResponse: () => undefined, onInterleaved: () => undefined });
    reader.push(capture("gst-push-tcp"));
    const announce = reqs[1];
    expect(announce?.method).toBe("ANNOUNCE");
    expect(announce?.headers.get("cseq")).toBe("2");
    expect(announce?.headers.get("CONTENT-TYPE")).toBe("application/sdp");
    expect(announce?.body.toString()).toMatch(/^v=0\r\n[\s\S]*a=control:stream=0\r\n[\s\S]*$/);
    expect(announce?.body.length).toBe(Number(announce?.headers.get("Content-Length")));
    expect(reqs[2]?.headers.get("Transport")).toBe("RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD");
    expect(reqs[4]?.headers.get("Session")).toBe("12345678");
  });
});

describe("RtspWireReader limits and refusals", () => {
  const req = (line: string, headers: string[], body = ""): Buffer => Buffer.from(`${line}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n${body}`);
  /** A request whose line and headers are exactly `n` bytes (padded in a header value). */
  const headOf = (n: number): Buffer => {
    const base = req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 1", "X-Pad: "]);
    return req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 1", `X-Pad: ${"a".repeat(n - base.length)}`]);
  };

  it("takes a head of exactly maxHeaderBytes and refuses one byte more (400, fatal), whole or split", () => {
    const limits = { maxHeaderBytes: 300, maxBodyBytes: 100 };
    for (const split of [false, true]) {
      const feedAll = (b: Buffer) => {
        const r = recorder(limits);
        if (split) for (let i = 0; i < b.length; i++) r.feed(b.subarray(i, i + 1));
        else r.feed(b);
        return r;
      };
      const ok = feedAll(headOf(300));
      expect(headOf(300).length).toBe(300);
      expect(ok.errors).toEqual([]);
      expect(ok.units).toHaveLength(1);
      const over = feedAll(headOf(301));
      expect(over.units).toEqual([]);
      expect(over.errors.map((e) => [e.status, e.fatal])).toEqual([[400, true]]);
      // The reader never holds more than the limit while looking for the end of a head.
      expect(over.reader.buffered).toBe(0);
    }
  });

  it("answers 414 when the request line alone is longer than the limit", () => {
    const r = recorder({ maxHeaderBytes: 100, maxBodyBytes: 100 });
    r.feed(Buffer.from(`DESCRIBE rtsp://h/${"p".repeat(200)} RTSP/1.0\r\nCSeq: 3\r\n\r\n`));
    expect(r.errors.map((e) => [e.status, e.fatal])).toEqual([[414, true]]);
    const r2 = recorder({ maxHeaderBytes: 100, maxBodyBytes: 100 });
    r2.feed(Buffer.from(`DESCRIBE rtsp://h/${"p".repeat(60)}`));
    expect(r2.errors).toEqual([]);
    r2.feed(Buffer.from("p".repeat(60)));
    expect(r2.errors.map((e) => e.status)).toEqual([414]);
  });

  it("takes a body of exactly maxBodyBytes and refuses one byte more (413, fatal, the body unread)", () => {
    const limits = { maxHeaderBytes: 1000, maxBodyBytes: 50 };
    const ok = recorder(limits);
    ok.feed(req("ANNOUNCE rtsp://h/x RTSP/1.0", ["CSeq: 2", "Content-Length: 50"], "v".repeat(50)));
    expect(ok.errors).toEqual([]);
    expect(ok.units).toHaveLength(1);
    const over = recorder(limits);
    over.feed(req("ANNOUNCE rtsp://h/x RTSP/1.0", ["CSeq: 2", "Content-Length: 51"]));
    expect(over.errors.map((e) => [e.status, e.fatal, e.cseq])).toEqual([[413, true, "2"]]);
    // Fatal: the reader refuses more input.
    expect(() => over.reader.push(req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 3"]))).toThrow(RtspWireError);
    expect(over.units).toEqual([]);
  });

  it("refuses a malformed Content-Length as fatal (the message's end cannot be found)", () => {
    for (const cl of ["-1", "abc", "1e3", "99999999999999999999"]) {
      const r = recorder();
      r.feed(req("ANNOUNCE rtsp://h/x RTSP/1.0", ["CSeq: 2", `Content-Length: ${cl}`]));
      expect(r.errors.map((e) => [e.status, e.fatal])).toEqual([[400, true]]);
    }
  });

  it("skips a malformed request line or header whole (400, not fatal) and reads the next message", () => {
    const next = req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 9"]);
    for (const bad of [
      req("OPTIONS rtsp://h/x", ["CSeq: 4"]),
      req("OPTIONS  rtsp://h/x RTSP/1.0", ["CSeq: 4"]),
      req("OPT(IONS rtsp://h/x RTSP/1.0", ["CSeq: 4"]),
      req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 4", "no colon here"]),
      req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 4", ": empty name"]),
      req("\u0001\u0002garbage", ["CSeq: 4", "Content-Length: 5"], "abcde"),
    ]) {
      const r = recorder();
      r.feed(Buffer.concat([bad, next]));
      expect(r.errors.map((e) => [e.status, e.fatal, e.cseq])).toEqual([[400, false, "4"]]);
      expect(methods(r.units)).toEqual(["OPTIONS"]);
      expect(r.units[0]).toContain('["CSeq","9"]');
    }
  });

  it("answers 505 to another RTSP version, skipping its body", () => {
    const r = recorder();
    r.feed(Buffer.concat([req("ANNOUNCE rtsp://h/x RTSP/2.0", ["CSeq: 5", "Content-Length: 3"], "v=0"), req("OPTIONS rtsp://h/x RTSP/1.0", ["CSeq: 6"])]));
    expect(r.errors.map((e) => [e.status, e.fatal, e.cseq])).toEqual([[505, false, "5"]]);
    expect(methods(r.units)).toEqual(["OPTIONS"]);
  });

  it("delivers a request without CSeq (the connection answers it) and keeps answers in order after an error", () => {
    const r = recorder();
    const bad = req("OPTIONS rtsp://h/x RTSP/1.1", ["CSeq: 1"]);
    const noCseq = req("OPTIONS rtsp://h/x RTSP/1.0", ["User-Agent: x"]);
    let threw: unknown;
    try {
      r.reader.push(Buffer.concat([bad, noCseq]));
    } catch (e) {
      threw = e;
    }
    expect(threw).toBeInstanceOf(RtspWireError);
    // The next message waits, so the error is answered first.
    expect(r.units).toEqual([]);
    expect(r.reader.buffered).toBe(noCseq.length);
    r.reader.push(Buffer.alloc(0));
    expect(r.units).toHaveLength(1);
    expect(r.units[0]).toContain('[["User-Agent","x"]]');
  });

  it("a handler's exception consumes its unit: nothing is delivered twice, the rest goes on", () => {
    const seen: string[] = [];
    const reader = new RtspWireReader(
      { maxHeaderBytes: 1000, maxBodyBytes: 1000 },
      {
        onRequest: (q) => {
          seen.push(q.headers.get("CSeq") ?? "");
          if (q.headers.get("CSeq") === "1") throw new RtspWireError(461, "unsupported transport");
        },
        onResponse: () => undefined,
        onInterleaved: (ch) => {
          seen.push(`$${ch}`);
          if (ch === 9) throw new Error("handler bug");
        },
      },
    );
    const bytes = Buffer.concat([req("SETUP rtsp://h/x RTSP/1.0", ["CSeq: 1"]), interleavedFrame(9, Buffer.from([1])), req("SETUP rtsp://h/x RTSP/1.0", ["CSeq: 2", "Content-Length: 1"], "b"), interleavedFrame(0, Buffer.from([2]))]);
    expect(() => reader.push(bytes)).toThrow(RtspWireError);
    expect(() => reader.push(Buffer.alloc(0))).toThrow("handler bug");
    reader.push(Buffer.alloc(0));
    expect(seen).toEqual(["1", "$9", "2", "$0"]);
    expect(reader.buffered).toBe(0);
  });

  it("reads folded header lines, bare-LF line ends and CRLF keep-alives between messages", () => {
    const r = recorder();
    r.feed(Buffer.from("\r\n\r\nGET_PARAMETER rtsp://h/x RTSP/1.0\nCSeq: 7\nX-Long: a\n  b\n\n$\u0001\u0000\u0002hi"));
    expect(r.errors).toEqual([]);
    expect(r.units).toEqual([`REQ GET_PARAMETER rtsp://h/x ${JSON.stringify([["CSeq", "7"], ["X-Long", "a b"]])} `, `$1 ${Buffer.from("hi").toString("hex")}`]);
  });

  it("frames responses, and round-trips what serializeRequest/serializeResponse/interleavedFrame write", () => {
    const r = recorder();
    const headers = new RtspHeaders().set("CSeq", "3").set("Content-Type", "application/sdp");
    const sdp = Buffer.from("v=0\r\n");
    r.feed(
      Buffer.concat([
        serializeResponse({ status: 200, reason: "OK", headers, body: sdp }),
        interleavedFrame(3, Buffer.alloc(65535, 7)),
        serializeRequest({ method: "SETUP", uri: "rtsp://h/x/trackID=0", headers: new RtspHeaders().set("CSeq", "4").set("Transport", "RTP/AVP/TCP;interleaved=0-1"), body: Buffer.alloc(0) }),
        serializeResponse({ status: 454, reason: "", headers: new RtspHeaders().set("CSeq", "5"), body: Buffer.alloc(0) }),
      ]),
    );
    expect(r.errors).toEqual([]);
    expect(r.units[0]).toBe(`RES 200 OK ${JSON.stringify([["CSeq", "3"], ["Content-Type", "application/sdp"], ["Content-Length", "5"]])} ${sdp.toString("hex")}`);
    expect(r.units[1]).toBe(`$3 ${Buffer.alloc(65535, 7).toString("hex")}`);
    expect(r.units[2]).toBe(`REQ SETUP rtsp://h/x/trackID=0 ${JSON.stringify([["CSeq", "4"], ["Transport", "RTP/AVP/TCP;interleaved=0-1"]])} `);
    expect(r.units[3]).toBe(`RES 454 Session Not Found ${JSON.stringify([["CSeq", "5"]])} `);
  });

  it("serializers keep CR/LF in values from forging headers; interleavedFrame refuses what does not fit", () => {
    const out = serializeResponse({ status: 400, reason: "Bad Request", headers: new RtspHeaders().set("CSeq", "1\r\nSession: forged"), body: Buffer.alloc(0) }).toString();
    expect(out).toBe("RTSP/1.0 400 Bad Request\r\nCSeq: 1 Session: forged\r\n\r\n");
    expect(() => interleavedFrame(0, Buffer.alloc(65536))).toThrow(RangeError);
    expect(() => interleavedFrame(256, Buffer.alloc(1))).toThrow(RangeError);
  });
});
