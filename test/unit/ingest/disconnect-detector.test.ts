import { describe, expect, it } from "vitest";
import { DisconnectDetector } from "../../../src/ingest/disconnect-detector.js";

const T = { rtpSilenceMs: 1000, rtcpSilenceMs: 3000, iceDisconnectedMs: 500 };
const T0 = 1_000_000;

function connected(): DisconnectDetector {
  const d = new DisconnectDetector(T);
  d.connected(T0);
  return d;
}

describe("DisconnectDetector: each sign of life with its own timeout", () => {
  it("RTP silence: gone one ms past IFC_RTP_SILENCE_TIMEOUT_MS, not at it; each packet restarts the count", () => {
    const d = connected();
    expect(d.check(T0 + 1000)).toBeUndefined();
    expect(d.check(T0 + 1001)).toBe("rtp-timeout");
    d.rtp(T0 + 900);
    expect(d.check(T0 + 1900)).toBeUndefined();
    expect(d.check(T0 + 1901)).toBe("rtp-timeout");
    expect(d.lastMediaAt).toBe(T0 + 900);
  });

  it("RTCP silence counts only once the publisher has sent RTCP, then at its own limit", () => {
    const d = connected();
    for (let t = T0; t <= T0 + 10_000; t += 500) d.rtp(t);
    expect(d.check(T0 + 10_000)).toBeUndefined(); // never sent RTCP: not timed on it
    d.rtcp(T0 + 10_000);
    for (let t = T0 + 10_000; t <= T0 + 13_500; t += 500) d.rtp(t);
    expect(d.check(T0 + 13_000)).toBeUndefined();
    expect(d.check(T0 + 13_001)).toBe("rtcp-timeout");
  });

  it("ICE disconnected: gone past IFC_ICE_DISCONNECTED_TIMEOUT_MS even while RTP still trickles; back in time, nothing", () => {
    const d = connected();
    d.iceDisconnected(T0);
    expect(d.isIceDisconnected).toBe(true);
    d.iceDisconnected(T0 + 400); // a repeated report does not restart the count
    d.rtp(T0 + 500);
    expect(d.check(T0 + 500)).toBeUndefined();
    expect(d.check(T0 + 501)).toBe("ice-disconnected");
    d.iceConnected();
    expect(d.isIceDisconnected).toBe(false);
    expect(d.check(T0 + 501)).toBeUndefined();
  });

  it("the shortest limit that is past names the cause", () => {
    const d = connected();
    d.rtcp(T0);
    d.iceDisconnected(T0);
    expect(d.check(T0 + 600)).toBe("ice-disconnected");
    d.iceConnected();
    expect(d.check(T0 + 1500)).toBe("rtp-timeout");
  });
});
