import { describe, expect, it } from "vitest";
import { applyFragToAnswer } from "../../helpers/ice-restart-client.js";

describe("applyFragToAnswer", () => {
  const answer = [
    "v=0", "o=- 1 0 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=video 9 UDP/TLS/RTP/SAVPF 102", "c=IN IP4 0.0.0.0", "a=ice-ufrag:old1", "a=ice-pwd:oldpasswordoldpassword", "a=mid:0",
    "a=candidate:1 1 udp 2130706431 192.0.2.2 40000 typ host", "a=end-of-candidates", "a=rtcp-mux",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=ice-ufrag:old1", "a=ice-pwd:oldpasswordoldpassword", "a=mid:1",
    "a=candidate:1 1 udp 2130706431 192.0.2.2 40000 typ host", "a=end-of-candidates", "",
  ].join("\r\n");

  it("takes the new credentials and the first section's candidates, wherever werift put them", () => {
    // as the server's PATCH reply has it: candidates before a=mid
    const frag = "a=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=candidate:7 1 udp 2116026367 192.0.2.2 43640 typ host generation 1 ufrag new2\r\na=end-of-candidates\r\na=ice-ufrag:new2\r\na=ice-pwd:newpasswordnewpassword\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n";
    const out = applyFragToAnswer(answer, frag);
    expect(out).not.toContain("old1");
    expect(out.match(/a=ice-ufrag:new2/g)?.length).toBe(2);
    expect(out.match(/a=ice-pwd:newpasswordnewpassword/g)?.length).toBe(2);
    const cands = out.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
    expect(cands).toEqual([
      "a=candidate:7 1 udp 2116026367 192.0.2.2 43640 typ host generation 1 ufrag new2",
      "a=candidate:7 1 udp 2116026367 192.0.2.2 43640 typ host generation 1 ufrag new2",
    ]);
    expect(out).toContain("a=rtcp-mux");
  });

  it("refuses a fragment without credentials", () => {
    expect(() => applyFragToAnswer(answer, "a=mid:0\r\n")).toThrow(/ice-ufrag/);
  });
});
