import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInput, Unsupported } from "../../../src/core/errors.js";
import { candidateProblem } from "../../../src/rtc/ice-syntax.js";
import { parseSdpFrag } from "../../../src/rtc/sdp-frag.js";
import { parseOffer, selectCodecs } from "../../../src/rtc/sdp-offer.js";
import { fuzzParams, mutatedLines } from "../../support/fuzz.js";

/** A real offer's lines (as werift writes them), to mutate: fuzz near valid input, where parsers break. */
const OFFER_LINES = [
  "v=0", "o=- 63865437 0 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1", "a=msid-semantic:WMS *",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0",
  "a=candidate:32b1715da3b0ef8ba684454eb 1 udp 2116026367 192.0.2.2 40934 typ host generation 0 ufrag 6427",
  "a=end-of-candidates", "a=ice-ufrag:6427", "a=ice-pwd:cfba612d663a1ca56da58c", "a=ice-options:trickle",
  "a=fingerprint:sha-256 BA:0A:37:0C:87:FA:BB:D4:C6:AD:16:19:CA:49:F4:3B:B3:69:FC:83:47:A9:06:94:C9:51:DF:5B:1A:13:EF:75",
  "a=setup:actpass", "a=sendonly", "a=mid:0", "a=rtcp-mux", "a=rtpmap:96 H264/90000", "a=rtcp-fb:96 nack",
  "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=sendonly", "a=mid:1", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
];
const FRAG_LINES = ["a=ice-ufrag:EsAw", "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1", "m=audio 9 RTP/AVP 0", "a=mid:0",
  "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1", "a=end-of-candidates"];

/** Runs `fn`; true when it returned or threw one of `allowed`. Anything else fails the property (and is shown shrunk). */
function onlyThrows(fn: () => unknown, allowed: (err: unknown) => boolean): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (allowed(err)) return true;
    throw err;
  }
}

describe("fuzz: the SDP offer parser throws only its domain errors (invalid-sdp, unsupported-codec)", () => {
  const typed = (err: unknown): boolean =>
    (err instanceof InvalidInput && err.slug === "invalid-sdp") || (err instanceof Unsupported && err.slug === "unsupported-codec");

  it("on arbitrary text", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ maxLength: 200 }).map((s) => `v=0\r\no=-\r\n${s}`)), (sdp) =>
      onlyThrows(() => selectCodecs(parseOffer(sdp)), typed)), fuzzParams(300));
  });

  it("on mutations of a real offer, and whatever it accepts has a mid per section and well-formed candidates", () => {
    fc.assert(
      fc.property(mutatedLines(OFFER_LINES), (sdp) =>
        onlyThrows(() => {
          const media = parseOffer(sdp);
          expect(media.every((m) => m.mid !== undefined)).toBe(true);
          for (const l of sdp.split(/\r?\n/)) if (l.startsWith("a=candidate:")) expect(candidateProblem(l.slice(2))).toBeUndefined();
          selectCodecs(media);
        }, typed),
      ),
      fuzzParams(300),
    );
  });
});

describe("fuzz: the sdpfrag parser throws only invalid-sdpfrag", () => {
  const typed = (err: unknown): boolean => err instanceof InvalidInput && err.slug === "invalid-sdpfrag";

  it("on arbitrary text and on mutations of a real fragment; every candidate it returns is well-formed and has a mid", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), mutatedLines(FRAG_LINES)), (body) =>
        onlyThrows(() => {
          const frag = parseSdpFrag(body);
          for (const c of frag.candidates) {
            expect(candidateProblem(c.candidate)).toBeUndefined();
            expect(c.sdpMid).toBeDefined();
          }
          if (frag.ufrag !== undefined) expect(frag.ufrag).toMatch(/^[A-Za-z0-9+/]{4,256}$/);
          if (frag.pwd !== undefined) expect(frag.pwd).toMatch(/^[A-Za-z0-9+/]{22,256}$/);
        }, typed),
      ),
      fuzzParams(300),
    );
  });
});
