import { describe, expect, it } from "vitest";
import type { StreamTracks } from "../../../src/core/stream-hub.js";
import { decodersFor, h264Profile, profileOfLevelId } from "../../../src/distributor/whep/h264-profile.js";
import { pinOffer, selectViewerCodecs } from "../../../src/distributor/whep/viewer-offer.js";
import { ProblemError } from "../../../src/errors.js";
import { parseOffer } from "../../../src/rtc/sdp-offer.js";
import type { H264SpsInfo } from "../../../src/media/types.js";

const CHROMIUM_LIKE = [
  "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 106 108",
  "a=mid:0", "a=recvonly",
  "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack",
  "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
  "a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
  "a=rtpmap:103 H264/90000", "a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
  "a=rtpmap:104 H264/90000", "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "a=rtcp-fb:104 nack", "a=rtcp-fb:104 nack pli",
  "a=rtpmap:106 H264/90000", "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
  "a=rtpmap:108 H264/90000", "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "a=mid:1", "a=recvonly",
  "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000", "",
].join("\r\n");

const tracks = (profileLevelId: string, sps?: Partial<H264SpsInfo>, audio = true): StreamTracks => ({
  video: { codec: "h264", profileLevelId, ...(sps ? { sps: sps as H264SpsInfo } : {}) },
  ...(audio ? { audio: { codec: "opus" as const, channels: 2, sampleRate: 48000 } } : {}),
});

describe("H.264 profiles", () => {
  it("classifies profile-level-ids as WebRTC does", () => {
    expect(profileOfLevelId("42e01f")).toBe("constrained-baseline");
    expect(profileOfLevelId("42001f")).toBe("baseline");
    expect(profileOfLevelId(undefined)).toBe("baseline");
    expect(profileOfLevelId("4d001f")).toBe("main");
    expect(profileOfLevelId("4de01f")).toBe("constrained-baseline");
    expect(profileOfLevelId("640032")).toBe("high");
    expect(profileOfLevelId("640c1f")).toBe("constrained-high");
    expect(profileOfLevelId("f4001f")).toBe("other");
    expect(h264Profile(0x64, 0)).toBe("high");
    expect(decodersFor("high")).toEqual(["high"]);
  });
});

const STRICT = { strictProfile: true };

describe("selectViewerCodecs", () => {
  it("picks the viewer's payload type of the stream's exact profile, and Opus", () => {
    const sel = selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("42e01f"));
    expect(sel.video.payloadType).toBe(104);
    expect(sel.audio?.payloadType).toBe(111);
    expect([sel.videoIndex, sel.audioIndex]).toEqual([0, 1]);
  });

  it("trusts the SPS over what was negotiated", () => {
    // negotiated High, but the encoder produced Main
    const sel = selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("640032", { profileIdc: 0x4d, constraintFlags: 0 }));
    expect(sel.video.payloadType).toBe(106);
  });

  it("falls back to a profile whose decoder takes the stream (Constrained High decodes nothing richer)", () => {
    const noCb = CHROMIUM_LIKE.replace("profile-level-id=42e01f\r\na=rtcp-fb:104", "profile-level-id=4d001f\r\na=rtcp-fb:104");
    expect(selectViewerCodecs(parseOffer(noCb), tracks("42e01f")).video.payloadType).toBe(102);
    expect(() => selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("640032"), STRICT)).toThrow(/offered: VP8\/90000, H264\(profile-level-id=42001f;packetization-mode=1\)/);
  });

  it("throws 406 unsupported-codec in strict mode, and 400 for an offer that does not receive video", () => {
    try {
      selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("640032"), STRICT);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProblemError);
      expect((err as ProblemError).status).toBe(406);
      expect((err as ProblemError).type).toMatch(/unsupported-codec$/);
    }
    expect(() => selectViewerCodecs(parseOffer(CHROMIUM_LIKE.replace("a=recvonly", "a=sendonly")), tracks("42e01f"))).toThrow(/must receive/);
    const audioOnly = CHROMIUM_LIKE.slice(CHROMIUM_LIKE.indexOf("m=audio"));
    expect(() => selectViewerCodecs(parseOffer(`v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n${audioOnly}`), tracks("42e01f"))).toThrow(/no video section/);
  });

  it("lenient (default): forwards High under the richest H.264 (packetization-mode 1) the viewer offers, as Debian's Chromium needs", () => {
    // Chromium 156 on Debian: 42001f, 42e01f, 4d001f and f4001f, no High
    const debian = CHROMIUM_LIKE.replace("profile-level-id=640c1f", "profile-level-id=f4001f");
    const sel = selectViewerCodecs(parseOffer(debian), tracks("640032"));
    expect(sel.video.payloadType).toBe(106); // Main beats both Baselines; f4 (High 4:4:4) is no known profile
    expect(sel.video.fmtp["profile-level-id"]).toBe("4d001f");
    expect(sel.profileMismatch).toBe(true);
    expect(selectViewerCodecs(parseOffer(debian), tracks("640032"), { strictProfile: false }).video.payloadType).toBe(106);
    // an exact match still wins, and is no mismatch
    const exact = selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("42e01f"));
    expect([exact.video.payloadType, exact.profileMismatch]).toEqual([104, false]);
    // among variants of one profile, the higher level
    const levels = debian.replace("profile-level-id=42001f", "profile-level-id=4d0032");
    expect(selectViewerCodecs(parseOffer(levels), tracks("640032")).video.payloadType).toBe(102);
  });

  it("lenient still needs H.264 with packetization-mode 1: 406 without", () => {
    const pm0 = CHROMIUM_LIKE.replace(/packetization-mode=1/g, "packetization-mode=0");
    expect(() => selectViewerCodecs(parseOffer(pm0), tracks("640032"))).toThrow(ProblemError);
    expect(() => selectViewerCodecs(parseOffer(pm0), tracks("640032"))).toThrow(/H264 \(packetization-mode=1\)/);
  });

  it("leaves audio out when the stream has none", () => {
    expect(selectViewerCodecs(parseOffer(CHROMIUM_LIKE), tracks("42e01f", undefined, false)).audio).toBeUndefined();
  });
});

describe("pinOffer", () => {
  it("leaves each answered m-line with the chosen codec only", () => {
    const pinned = pinOffer(CHROMIUM_LIKE, new Map([[0, 104], [1, 111]]));
    expect(pinned).toMatch(/^m=video 9 UDP\/TLS\/RTP\/SAVPF 104\r$/m);
    expect(pinned).toMatch(/^m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r$/m);
    expect(pinned).not.toMatch(/a=(rtpmap|fmtp|rtcp-fb):(96|97|102|103|106|108|0) /);
    expect(pinned).toMatch(/a=rtcp-fb:104 nack pli/);
    expect(pinned).toMatch(/a=mid:1/);
    const media = parseOffer(pinned);
    expect(media.map((m) => m.codecs.map((c) => c.payloadType))).toEqual([[104], [111]]);
  });
});
