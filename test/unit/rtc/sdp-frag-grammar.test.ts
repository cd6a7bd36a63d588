import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../../src/core/errors.js";
import { thrown } from "../../support/thrown.js";
import { applySdpFrag, iceRemoteOf, parseSdpFrag, type IcePatchable } from "../../../src/rtc/sdp-frag.js";

const CAND = "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1";
const OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n";

/** A session that records what reached it, standing in for werift's peer (whose own parser is not under test here). */
function recordingSession(): IcePatchable & { added: unknown[]; restarts: string[] } {
  const s = {
    added: [] as unknown[],
    restarts: [] as string[],
    addRemoteCandidates: async (c: unknown[]) => void s.added.push(...c),
    restartIce: async (ufrag: string) => (s.restarts.push(ufrag), "answer"),
  };
  return s;
}

describe("sdpfrag grammar (RFC 8840, RFC 8839 §5.1)", () => {
  it("refuses a candidate with no a=mid before it, or whose mid was reset by a new m= line", () => {
    expect(thrown(() => parseSdpFrag(`${CAND}\r\n`), InvalidInput).slug).toBe("invalid-sdpfrag");
    expect(thrown(() => parseSdpFrag(`a=mid:0\r\nm=audio 9 RTP/AVP 0\r\n${CAND}\r\n`), InvalidInput).message).toMatch(/a=mid/);
  });

  it("refuses malformed candidates: too few fields, a port past 65535, a non-numeric priority or rport", () => {
    for (const bad of [
      "a=candidate:garbage",
      "a=candidate:1 1 udp 2122260223 192.0.2.1 65536 typ host",
      "a=candidate:1 1 udp xx 192.0.2.1 9 typ host",
      "a=candidate:1 1 udp 1 192.0.2.1 9 typ srflx raddr 0.0.0.0 rport x",
      "a=candidate:1 1 udp 1 192.0.2.1 9 typ host generation",
      "a=candidate:1$' 1 udp 1 192.0.2.1 9 typ host",
    ]) {
      expect(thrown(() => parseSdpFrag(`a=mid:0\r\n${bad}\r\n`), InvalidInput).kind, bad).toBe("invalid-input");
    }
  });

  it("accepts the edges: port 65535, tcp with tcptype, an mDNS name", () => {
    const frag = parseSdpFrag(
      "a=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 65535 typ host\r\na=candidate:2 1 tcp 1 192.0.2.1 9 typ host tcptype passive\r\na=candidate:3 1 udp 1 4f1c-aa.local 9 typ host\r\n",
    );
    expect(frag.candidates.map((c) => c.sdpMid)).toEqual(["0", "0", "0"]);
  });

  it("refuses ufrag and pwd outside ice-char or their lengths, `$` included", () => {
    for (const bad of ["a=ice-ufrag:ab$'", "a=ice-ufrag:abc", "a=ice-pwd:short", "a=ice-pwd:$'$'$'$'$'$'$'$'$'$'$'$'"]) {
      expect(thrown(() => parseSdpFrag(`${bad}\r\n`), InvalidInput).slug, bad).toBe("invalid-sdpfrag");
    }
    expect(parseSdpFrag("a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n")).toEqual({ ufrag: "abcd", pwd: "0123456789012345678901", candidates: [] });
  });
});

describe("applying an sdpfrag", () => {
  it("refuses a candidate for a mid the offer does not have, before touching the session", async () => {
    const session = recordingSession();
    const remote = iceRemoteOf(OFFER);
    const frag = parseSdpFrag(`a=mid:7\r\n${CAND}\r\n`);
    await expect(applySdpFrag(session, remote, frag)).rejects.toMatchObject({ kind: "invalid-input", slug: "invalid-sdpfrag" });
    // an ICE restart naming an unknown mid is refused too, and the restart never starts
    await expect(applySdpFrag(session, remote, { ...frag, ufrag: "newu", pwd: "0123456789012345678901" })).rejects.toBeInstanceOf(InvalidInput);
    expect(session.added).toEqual([]);
    expect(session.restarts).toEqual([]);
    expect(remote.remoteUfrag).toBe("EsAw");
  });

  it("turns a candidate the peer refuses into a 400, and adds good ones", async () => {
    const remote = iceRemoteOf(OFFER);
    const good = recordingSession();
    await applySdpFrag(good, remote, parseSdpFrag(`a=mid:0\r\n${CAND}\r\n`));
    expect(good.added).toHaveLength(1);
    const refusing: IcePatchable = { addRemoteCandidates: async () => Promise.reject(new Error("werift says no")), restartIce: async () => "" };
    await expect(applySdpFrag(refusing, remote, parseSdpFrag(`a=mid:0\r\n${CAND}\r\n`))).rejects.toMatchObject({ kind: "invalid-input", message: /werift says no/ });
  });
});
