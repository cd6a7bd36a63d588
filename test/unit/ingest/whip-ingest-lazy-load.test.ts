import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import { WhipIngest, type WhipSessionLoader } from "../../../src/ingest/whip-ingest.js";
import { RtcPortBudget } from "../../../src/rtc/port-budget.js";
import { loadConfig } from "../../../src/config.js";

describe("WhipIngest with WebRTC loaded at the first publisher", () => {
  it("rejects the POST with the load's error, claims no port nor stream, and asks the loader again at the next POST (loadOnce retries)", async () => {
    const registry = new StreamRegistry({ maxStreams: 2, readerQueueFrames: 16, reconnectGraceMs: 1000, rtpMaxJumpMs: 2000 });
    const ports = RtcPortBudget.forRange(40000, 40010, 1);
    let loads = 0;
    const failing: WhipSessionLoader = () => {
      loads++;
      return Promise.reject(new Error("WebRTC could not be loaded: EMFILE"));
    };
    const cfg = loadConfig({}, {});
    const ingest = new WhipIngest(registry, {
      peers: () => {
        throw new Error("no session is made while WebRTC does not load");
      },
      iceRestartTimeoutMs: cfg.iceRestartTimeoutMs, connectTimeoutMs: 1000, rtpSilenceTimeoutMs: 1000, rtcpSilenceTimeoutMs: 1000, clockDriftToleranceMs: 1000,
      iceDisconnectedTimeoutMs: 1000, pliMinIntervalMs: 500, rembBitrateBps: 0, reorderWindowPackets: 0,
    }, ports, pino({ level: "silent" }), failing);
    await expect(ingest.publish("cam1", "v=0\r\n", "publisher")).rejects.toThrow("WebRTC could not be loaded: EMFILE");
    expect(ports.inUse).toBe(0);
    expect(registry.get("cam1")).toBeUndefined();
    expect(ingest.count).toBe(0);
    await expect(ingest.publish("cam1", "v=0\r\n", "publisher")).rejects.toThrow("EMFILE");
    expect(loads).toBe(2);
  });
});
