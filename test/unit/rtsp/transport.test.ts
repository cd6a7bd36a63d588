import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RtspWireError, type RtspRequest } from "../../../src/ingest/rtsp/message.js";
import { formatTransport, parseTransportHeader, type RtspTransport } from "../../../src/ingest/rtsp/transport.js";
import { RtspWireReader } from "../../../src/ingest/rtsp/wire-reader.js";
import { fuzzParams } from "../../support/fuzz.js";
import { CAPTURES, capture } from "./capture.js";

const status = (v: string): number | undefined => {
  try {
    parseTransportHeader(v);
  } catch (e) {
    if (e instanceof RtspWireError) return e.status;
    throw e;
  }
  return undefined;
};

describe("parseTransportHeader", () => {
  it("parses every SETUP Transport the captured clients sent", () => {
    const seen: Record<string, RtspTransport[]> = {};
    for (const name of CAPTURES) {
      const reqs: RtspRequest[] = [];
      new RtspWireReader({ maxHeaderBytes: 8192, maxBodyBytes: 8192 }, { onRequest: (r) => reqs.push(r), onResponse: () => undefined, onInterleaved: () => undefined }).push(capture(name));
      for (const r of reqs) if (r.method === "SETUP") seen[r.headers.get("Transport") ?? ""] = parseTransportHeader(r.headers.get("Transport") ?? "");
    }
    expect(seen["RTP/AVP/TCP;unicast;interleaved=2-3;mode=record"]).toEqual([{ lower: "tcp", delivery: "unicast", interleaved: [2, 3], mode: "record" }]);
    expect(seen["RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD"]).toEqual([{ lower: "tcp", delivery: "unicast", interleaved: [0, 1], mode: "record" }]);
    expect(seen["RTP/AVP/TCP;unicast;interleaved=2-3"]).toEqual([{ lower: "tcp", delivery: "unicast", interleaved: [2, 3] }]);
    const udp = Object.entries(seen).filter(([k]) => k.includes("client_port"));
    expect(udp.length).toBeGreaterThanOrEqual(5);
    for (const [k, [t]] of udp) {
      expect(t?.lower).toBe("udp");
      expect(t?.clientPort?.[1]).toBe((t?.clientPort?.[0] ?? NaN) + 1);
      expect(t?.mode).toBe(/mode=record/i.test(k) ? "record" : undefined);
    }
  });

  it("keeps the client's order of alternatives and leaves out profiles it cannot use", () => {
    expect(parseTransportHeader('RTP/SAVP;unicast;client_port=4000-4001, RTP/AVP;multicast;destination=224.2.0.1;ttl=16, RTP/AVP/TCP;interleaved=4-5;ssrc=0A1B2C3D;mode="PLAY"')).toEqual([
      { lower: "udp", delivery: "multicast", destination: "224.2.0.1" },
      { lower: "tcp", delivery: "unicast", interleaved: [4, 5], ssrc: 0x0a1b2c3d, mode: "play" },
    ]);
    expect(parseTransportHeader("rtp/avp;client_port=5000")).toEqual([{ lower: "udp", delivery: "unicast", clientPort: [5000, 5001] }]);
  });

  it("answers 461 when no alternative is usable, 400 when malformed", () => {
    expect(status("RTP/SAVP;unicast;client_port=4000-4001")).toBe(461);
    expect(status("x-real-rdt/udp;client_port=6970")).toBe(461);
    expect(status("")).toBe(400);
    expect(status("garbage here")).toBe(400);
    expect(status("RTP/AVP/TCP;interleaved=0-256")).toBe(400);
    expect(status("RTP/AVP;client_port=70000-70001")).toBe(400);
    expect(status("RTP/AVP;client_port=a-b")).toBe(400);
    expect(status("RTP/AVP;ssrc=xyz")).toBe(400);
    expect(status("RTP/AVP;mode=teleport")).toBe(400);
  });

  it("formats what it parses back to the same transport", () => {
    const port = fc.integer({ min: 0, max: 65535 });
    const ch = fc.integer({ min: 0, max: 255 });
    const t = fc.record(
      {
        lower: fc.constantFrom("udp" as const, "tcp" as const),
        delivery: fc.constantFrom("unicast" as const, "multicast" as const),
        interleaved: fc.tuple(ch, ch),
        clientPort: fc.tuple(port, port),
        serverPort: fc.tuple(port, port),
        mode: fc.constant("record" as const),
        ssrc: fc.integer({ min: 0, max: 0xffffffff }),
        source: fc.constantFrom("10.0.0.1", "::1"),
        destination: fc.constantFrom("127.0.0.1"),
      },
      { requiredKeys: ["lower", "delivery"] },
    );
    fc.assert(
      fc.property(t, (x) => {
        expect(parseTransportHeader(formatTransport(x))).toEqual([x]);
      }),
      fuzzParams(300),
    );
    expect(formatTransport({ lower: "tcp", delivery: "unicast", interleaved: [0, 1], mode: "record" })).toBe("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    expect(formatTransport({ lower: "udp", delivery: "unicast", clientPort: [5000, 5001], serverPort: [8000, 8001], ssrc: 1 })).toBe("RTP/AVP;unicast;client_port=5000-5001;server_port=8000-8001;ssrc=00000001");
  });

  it("arbitrary text: a list or RtspWireError, nothing else", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom("RTP/AVP;", "RTP/AVP/TCP;interleaved=").chain((p) => fc.string().map((s) => p + s))), (v) => {
        const s = status(v);
        expect(s === undefined || s === 400 || s === 461).toBe(true);
      }),
      fuzzParams(500),
    );
  });
});
