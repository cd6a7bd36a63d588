import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { RtspWireError, type RtspRequest } from "../../../src/ingest/rtsp/message.js";
import { buildRtspSdp, parseRtspSdp, resolveControl, SUPPORTED_CODECS, type DescribeTrack } from "../../../src/ingest/rtsp/sdp.js";
import { RtspWireReader } from "../../../src/ingest/rtsp/wire-reader.js";
import { fuzzParams, mutatedLines } from "../../support/fuzz.js";
import { capture } from "./capture.js";

function announced(name: string): string {
  const reqs: RtspRequest[] = [];
  new RtspWireReader({ maxHeaderBytes: 8192, maxBodyBytes: 8192 }, { onRequest: (r) => reqs.push(r), onResponse: () => undefined, onInterleaved: () => undefined }).push(capture(name));
  const a = reqs.find((r) => r.method === "ANNOUNCE");
  if (!a) throw new Error(`no ANNOUNCE in ${name}`);
  return a.body.toString("utf8");
}
const fixture = (f: string): string => readFileSync(fileURLToPath(new URL(`../../fixtures/rtsp/${f}`, import.meta.url)), "utf8");
const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString("hex") : undefined);
const status = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof RtspWireError) return e.status;
    throw e;
  }
  return undefined;
};

describe("parseRtspSdp on captured ANNOUNCE bodies", () => {
  it("ffmpeg: H.264 (mode 1, SPS/PPS, profile) and MPEG4-GENERIC AAC-hbr 44.1 kHz mono", () => {
    const p = parseRtspSdp(announced("ffmpeg-push-tcp"));
    expect(p.unsupported).toEqual([]);
    expect(p.tracks.map((t) => [t.kind, t.codec, t.payloadType, t.clockRate, t.channels, t.control])).toEqual([
      ["video", "h264", 96, 90000, 1, "streamid=0"],
      ["audio", "aac", 97, 44100, 1, "streamid=1"],
    ]);
    const [v, a] = p.tracks;
    expect(hex(v?.sps)).toBe("6764001facd9405005bb0110000003001000000303c0f1831960");
    expect(hex(v?.pps)).toBe("68ebe3cb22c0");
    expect(v?.profileLevelId).toBe("64001f");
    expect(v?.fmtp["packetization-mode"]).toBe("1");
    expect(a?.aac && { ...a.aac, config: hex(a.aac.config) }).toEqual({ config: "120856e500", sizeLength: 13, indexLength: 3, indexDeltaLength: 3 });
  });

  it("GStreamer rtspclientsink: H.264, and its AAC (MP4A-LATM) listed as unsupported", () => {
    const p = parseRtspSdp(announced("gst-push-tcp"));
    expect(p.tracks.map((t) => [t.codec, t.payloadType, t.control, t.profileLevelId])).toEqual([["h264", 99, "stream=0", "f4001f"]]);
    expect(hex(p.tracks[0]?.sps)?.slice(0, 2)).toBe("67");
    expect(p.unsupported).toEqual([{ kind: "audio", encoding: "MP4A-LATM/44100", payloadType: 96 }]);
  });

  it("GStreamer with opusenc: OPUS/48000/2 (upper case) and H.264", () => {
    const p = parseRtspSdp(announced("gst-push-udp-opus"));
    expect(p.tracks.map((t) => [t.kind, t.codec, t.payloadType, t.clockRate, t.channels, t.control])).toEqual([
      ["audio", "opus", 96, 48000, 2, "stream=1"],
      ["video", "h264", 99, 90000, 1, "stream=0"],
    ]);
    expect(p.unsupported).toEqual([]);
  });
});

describe("parseRtspSdp on camera DESCRIBE answers (written from public documentation)", () => {
  it("Hikvision-style: absolute controls, H.264, PCMU on static payload type 0 listed", () => {
    const p = parseRtspSdp(fixture("camera-hikvision-describe.sdp"));
    expect(p.sessionControl).toBe("rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast");
    expect(p.tracks.map((t) => [t.codec, t.control, t.profileLevelId])).toEqual([["h264", "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast", "420029"]]);
    expect(hex(p.tracks[0]?.pps)).toBe("68ee3c80");
    expect(p.unsupported).toEqual([{ kind: "audio", encoding: "PCMU/8000", payloadType: 0 }]);
  });

  it("Axis-style: H.264 and AAC-hbr 16 kHz; the ONVIF metadata section listed", () => {
    const p = parseRtspSdp(fixture("camera-axis-describe.sdp"));
    expect(p.tracks.map((t) => [t.codec, t.clockRate, t.channels, t.control])).toEqual([
      ["h264", 90000, 1, "rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264"],
      ["aac", 16000, 1, "rtsp://192.168.0.90/axis-media/media.amp/stream=1?videocodec=h264"],
    ]);
    expect(hex(p.tracks[1]?.aac?.config)).toBe("1408");
    expect(p.unsupported).toEqual([{ kind: "application", encoding: "vnd.onvif.metadata/90000", payloadType: 98 }]);
  });
});

describe("parseRtspSdp refusals", () => {
  const sdp = (...media: string[]): string => ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=x", "t=0 0", ...media, ""].join("\r\n");

  it("lists codecs it does not take, with their encoding", () => {
    const p = parseRtspSdp(
      sdp(
        "m=video 0 RTP/AVP 96", "a=rtpmap:96 H265/90000", "a=control:trackID=0",
        "m=video 0 RTP/AVP 97", "a=rtpmap:97 H264/90000", "a=fmtp:97 packetization-mode=2",
        "m=audio 0 RTP/AVP 8",
        "m=audio 0 RTP/AVP 98", "a=rtpmap:98 MPEG4-GENERIC/48000/2", "a=fmtp:98 mode=AAC-lbr;config=1190;sizelength=6",
        "m=audio 0 RTP/AVP 99", "a=rtpmap:99 opus/48000/1",
        "m=video 0 RTP/SAVP 96", "a=rtpmap:96 H264/90000",
      ),
    );
    expect(p.tracks).toEqual([]);
    expect(p.unsupported).toEqual([
      { kind: "video", encoding: "H265/90000", payloadType: 96 },
      { kind: "video", encoding: "H264/90000", payloadType: 97 },
      { kind: "audio", encoding: "PCMA/8000", payloadType: 8 },
      { kind: "audio", encoding: "MPEG4-GENERIC/48000/2", payloadType: 98 },
      { kind: "audio", encoding: "opus/48000/1", payloadType: 99 },
      { kind: "video", encoding: "H264/90000", payloadType: 96 },
    ]);
    expect(SUPPORTED_CODECS).toContain("H264");
  });

  it("takes the first format of a section that it supports; mode 0 when packetization-mode is absent", () => {
    const p = parseRtspSdp(sdp("m=video 0 RTP/AVP 26 96", "a=rtpmap:96 H264/90000"));
    expect(p.tracks.map((t) => [t.payloadType, t.codec, t.control])).toEqual([[96, "h264", "*"]]);
    expect(p.unsupported).toEqual([]);
  });

  it("refuses malformed SDP with 400", () => {
    expect(status(() => parseRtspSdp(""))).toBe(400);
    expect(status(() => parseRtspSdp("o=- 0 0 IN IP4 h\r\nv=0\r\n"))).toBe(400);
    expect(status(() => parseRtspSdp(sdp("m=video RTP/AVP 96")))).toBe(400);
    expect(status(() => parseRtspSdp(sdp("m=video 0 RTP/AVP 96", "a=rtpmap:96 H264")))).toBe(400);
    expect(status(() => parseRtspSdp(sdp("m=video 0 RTP/AVP 96", "garbage line")))).toBe(400);
    expect(status(() => parseRtspSdp(sdp("m=audio 0 RTP/AVP 97", "a=rtpmap:97 MPEG4-GENERIC/44100/2", "a=fmtp:97 mode=AAC-hbr;sizelength=13")))).toBe(400);
    expect(status(() => parseRtspSdp(sdp("m=audio 0 RTP/AVP 97", "a=rtpmap:97 MPEG4-GENERIC/44100/2", "a=fmtp:97 mode=AAC-hbr;config=12;sizelength=x")))).toBe(400);
  });

  it("mutated ANNOUNCE SDPs: parse or RtspWireError, nothing else", () => {
    const lines = announced("ffmpeg-push-tcp").split("\r\n").filter((l) => l !== "");
    let parsed = 0;
    fc.assert(
      fc.property(mutatedLines(lines), (text) => {
        if (status(() => parseRtspSdp(text)) === undefined) parsed++;
      }),
      fuzzParams(500),
    );
    expect(parsed).toBeGreaterThan(0);
  });
});

describe("buildRtspSdp", () => {
  it("describes H.264, AAC and Opus so that parseRtspSdp reads back the same tracks", () => {
    const sps = Buffer.from("6764001facd9405005bb0110000003001000000303c0f1831960", "hex");
    const pps = Buffer.from("68ebe3cb22c0", "hex");
    const tracks: DescribeTrack[] = [
      { kind: "video", codec: "h264", payloadType: 96, clockRate: 90000, channels: 1, sps, pps },
      { kind: "audio", codec: "aac", payloadType: 97, clockRate: 44100, channels: 1, aacConfig: Buffer.from("1208", "hex") },
      { kind: "audio", codec: "opus", payloadType: 111, clockRate: 48000, channels: 2 },
    ];
    const text = buildRtspSdp({ sessionName: "cam\r\nx=evil", originAddress: "127.0.0.1", tracks });
    expect(text).toMatch(/^v=0\r\n/);
    expect(text).not.toMatch(/\r\nx=evil/);
    const p = parseRtspSdp(text);
    expect(p.sessionControl).toBe("*");
    expect(p.unsupported).toEqual([]);
    expect(p.tracks.map((t) => [t.kind, t.codec, t.payloadType, t.clockRate, t.channels, t.control, hex(t.sps), hex(t.pps), t.profileLevelId, hex(t.aac?.config)])).toEqual([
      ["video", "h264", 96, 90000, 1, "trackID=0", hex(sps), hex(pps), "64001f", undefined],
      ["audio", "aac", 97, 44100, 1, "trackID=1", undefined, undefined, undefined, "1208"],
      ["audio", "opus", 111, 48000, 2, "trackID=2", undefined, undefined, undefined, undefined],
    ]);
    expect(buildRtspSdp({ sessionName: "x", originAddress: "::1", tracks: [] })).toContain("o=- 0 0 IN IP6 ::1\r\n");
  });
});

describe("resolveControl", () => {
  it("follows RFC 2326 C.1.1 and the forms real peers use", () => {
    const cases: [string, string, string][] = [
      ["rtsp://h:8554/cam", "*", "rtsp://h:8554/cam"],
      ["rtsp://h:8554/cam", "", "rtsp://h:8554/cam"],
      ["rtsp://h:8554/cam", "rtsp://other/x/trackID=1", "rtsp://other/x/trackID=1"],
      // ffmpeg and GStreamer publish with `streamid=0` / `stream=0` against the request URL.
      ["rtsp://h:8554/cam", "streamid=0", "rtsp://h:8554/cam/streamid=0"],
      ["rtsp://h:8554/live/cam", "stream=1", "rtsp://h:8554/live/cam/stream=1"],
      // Content-Base with a trailing slash (live555, our own DESCRIBE).
      ["rtsp://h:8554/cam/", "trackID=1", "rtsp://h:8554/cam/trackID=1"],
      ["rtsp://h/cam/realmonitor?channel=1&subtype=0/", "trackID=0", "rtsp://h/cam/realmonitor?channel=1&subtype=0/trackID=0"],
      ["rtsp://h/axis-media/media.amp?videocodec=h264", "trackID=1", "rtsp://h/axis-media/media.amp/trackID=1?videocodec=h264"],
      ["rtsp://h/a/b", "/c/trackID=2", "rtsp://h/c/trackID=2"],
      ["rtsp://h/a", "?ctype=video", "rtsp://h/a?ctype=video"],
    ];
    for (const [base, control, want] of cases) expect(resolveControl(base, control), `${base} + ${control}`).toBe(want);
  });
});
