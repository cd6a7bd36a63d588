import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../../src/core/errors.js";
import { parseSdpFrag } from "../../../src/rtc/sdp-frag.js";

describe("trickle-ice-sdpfrag parsing (RFC 8840)", () => {
  it("reads credentials and candidates with their mid", () => {
    const frag = parseSdpFrag("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\na=end-of-candidates\r\n");
    expect(frag.ufrag).toBe("EsAw");
    expect(frag.pwd).toBe("P2uYro0UCOQ4zxjKXaWCBui1");
    expect(frag.candidates).toEqual([{ candidate: "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1", sdpMid: "0" }]);
  });

  it("refuses lines that are not SDP attributes", () => {
    expect(() => parseSdpFrag("hello world\r\n")).toThrow(InvalidInput);
  });
});
