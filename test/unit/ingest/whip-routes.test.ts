import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../../src/errors.js";
import { iceServerLinks } from "../../../src/ingest/whip-routes.js";
import { parseSdpFrag } from "../../../src/rtc/sdp-frag.js";

describe("trickle-ice-sdpfrag parsing (RFC 8840)", () => {
  it("reads credentials and candidates with their mid", () => {
    const frag = parseSdpFrag("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\na=end-of-candidates\r\n");
    expect(frag.ufrag).toBe("EsAw");
    expect(frag.pwd).toBe("P2uYro0UCOQ4zxjKXaWCBui1");
    expect(frag.candidates).toEqual([{ candidate: "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1", sdpMid: "0" }]);
  });

  it("refuses lines that are not SDP attributes", () => {
    expect(() => parseSdpFrag("hello world\r\n")).toThrow(BadRequestError);
  });
});

describe("ICE server Link headers (RFC 9725 §4.6)", () => {
  it("formats STUN and TURN entries", () => {
    expect(iceServerLinks(["stun:s:3478", "turns:t:5349"], "user", "pass")).toEqual([
      '<stun:s:3478>; rel="ice-server"',
      '<turns:t:5349>; rel="ice-server"; username="user"; credential="pass"; credential-type="password"',
    ]);
  });
});
