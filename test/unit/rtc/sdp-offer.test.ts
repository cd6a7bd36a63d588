import { describe, expect, it } from "vitest";
import { InvalidInput, Unsupported } from "../../../src/core/errors.js";
import { parseOffer, selectCodecs } from "../../../src/rtc/sdp-offer.js";

const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const video = (codecs: string) => `m=video 9 UDP/TLS/RTP/SAVPF ${codecs.match(/rtpmap:(\d+)/g)?.map((m) => m.slice(7)).join(" ")}\r\na=mid:0\r\na=sendonly\r\n${codecs}`;
const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
const h264 = (pt: number, fmtp: string) => `a=rtpmap:${pt} H264/90000\r\na=fmtp:${pt} ${fmtp}\r\na=rtcp-fb:${pt} nack\r\n`;

describe("SDP offer selection", () => {
  it("picks the richest acceptable H.264 (high over baseline) and Opus", () => {
    const sdp = head + video(
      h264(102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f") +
      h264(104, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=640032") +
      h264(106, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032") +
      "a=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\n",
    ) + audio;
    const sel = selectCodecs(parseOffer(sdp));
    expect(sel.video.payloadType).toBe(106);
    expect(sel.video.fmtp["profile-level-id"]).toBe("640032");
    expect(sel.video.rtcpFeedback).toEqual([{ type: "nack" }]);
    expect(sel.audio?.payloadType).toBe(111);
    expect(sel.audio?.channels).toBe(2);
  });

  it("accepts constrained baseline and main, and a missing profile-level-id (baseline)", () => {
    for (const fmtp of ["packetization-mode=1;profile-level-id=42e01f", "packetization-mode=1;profile-level-id=4d001f", "packetization-mode=1"]) {
      expect(selectCodecs(parseOffer(head + video(h264(96, fmtp)))).video.payloadType).toBe(96);
    }
  });

  it("refuses a VP8-only offer as Unsupported (406 at the edge) naming what is accepted", () => {
    const sdp = head + video("a=rtpmap:96 VP8/90000\r\n");
    try {
      selectCodecs(parseOffer(sdp));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(Unsupported);
      const e = err as Unsupported;
      expect(e.slug).toBe("unsupported-codec");
      expect(e.details.offered).toEqual(["VP8"]);
      expect(e.message).toMatch(/VP8/);
      expect(e.message).toMatch(/H264/);
    }
  });

  it("refuses H.264 in packetization-mode 0 and unsupported profiles", () => {
    expect(() => selectCodecs(parseOffer(head + video(h264(96, "packetization-mode=0;profile-level-id=42e01f"))))).toThrow(Unsupported);
    expect(() => selectCodecs(parseOffer(head + video(h264(96, "packetization-mode=1;profile-level-id=f4001f"))))).toThrow(Unsupported);
  });

  it("refuses malformed and codec-less offers with 400", () => {
    for (const bad of ["hello", "v=0\r\ns=-\r\n", head, head + "m=video 9 UDP/TLS/RTP/SAVPF\r\n", head + audio, head + "m=video x\r\n"]) {
      expect(() => selectCodecs(parseOffer(bad))).toThrow(InvalidInput);
    }
  });

  it("refuses a recvonly video section (that is a viewer, not a publisher)", () => {
    const sdp = head + video(h264(96, "packetization-mode=1;profile-level-id=42e01f")).replace("a=sendonly", "a=recvonly");
    expect(() => selectCodecs(parseOffer(sdp))).toThrow(/recvonly/);
  });

  it("video without audio is fine", () => {
    const sel = selectCodecs(parseOffer(head + video(h264(96, "packetization-mode=1;profile-level-id=42e01f"))));
    expect(sel.audio).toBeUndefined();
    expect(sel.hasAudioSection).toBe(false);
  });
});

describe("SDP offer ICE and mid checks (refused before werift sees them)", () => {
  const base = head + video(h264(96, "packetization-mode=1;profile-level-id=42e01f"));
  const refusal = (sdp: string): InvalidInput => {
    try {
      parseOffer(sdp);
    } catch (err) {
      if (err instanceof InvalidInput) return err;
      throw err;
    }
    throw new Error("expected InvalidInput");
  };

  it("accepts the offer with its mid and well-formed ICE lines", () => {
    const sdp = `${base}a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\na=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n`;
    expect(parseOffer(sdp)[0]?.mid).toBe("0");
  });

  it("refuses a media section without a=mid, and two sections with one mid", () => {
    expect(refusal(base.replace("a=mid:0\r\n", "")).message).toMatch(/no a=mid/);
    expect(refusal(base + audio.replace("a=mid:1", "a=mid:0")).message).toMatch(/two media sections/);
  });

  it("refuses malformed candidates, ufrags and pwds", () => {
    for (const line of ["a=candidate:garbage", "a=candidate:1 1 udp 1 192.0.2.1 70000 typ host", "a=ice-ufrag:a$'b", "a=ice-pwd:tooshort"]) {
      expect(refusal(`${base}${line}\r\n`).slug, line).toBe("invalid-sdp");
    }
  });
});
