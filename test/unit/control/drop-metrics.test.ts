import type { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { admissionMetrics } from "../../../src/control/admission-metrics.js";
import { dropMetrics } from "../../../src/control/drop-metrics.js";
import { CpuAdmission } from "../../../src/core/admission.js";
import { StreamRegistry, type SessionStats } from "../../../src/core/stream-registry.js";
import type { StreamDecoderStats } from "../../../src/extractor/stream-decoder.js";
import type { SegmenterStats } from "../../../src/recorder/segmenter.js";

/** A publisher's figures as its session reports them; the test sets the drops. */
function sessionStats(framesDropped: number, socketDrops: number | undefined): SessionStats {
  return {
    protocol: "rtsp", sessionId: "s1", since: 0, bitrateBps: 0, packetsReceived: 100, packetsLost: 0, framesReceived: 10, framesDropped, keyframeRequests: 0,
    ...(socketDrops !== undefined ? { socketDrops } : {}),
  };
}

const text = (reg: Registry): Promise<string> => reg.metrics();

describe("/metrics drop counters", () => {
  it("counts ingest's dropped units and kernel socket drops per live stream, recording breaks and decoder drops by reason", async () => {
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8 });
    let drops = { frames: 2, socket: 5 as number | undefined };
    registry.claim("cam", "s1", {}, () => sessionStats(drops.frames, drops.socket));
    const breaks: SegmenterStats = { gaps: 1, droppedAtBreaks: 29 };
    const decoder = { stream: "cam", dropped: { hubQueue: 3, waitingForIdr: 4, backpressure: 6, badParameterSets: 0, unpairedFrames: 0, formatMismatch: 0 } } as Pick<StreamDecoderStats, "stream" | "dropped">;
    const reg = dropMetrics({ registry, recorder: { breakStats: () => ({ ...breaks }) }, decoders: { allStats: () => [decoder as StreamDecoderStats] } });
    let out = await text(reg);
    expect(out).toMatch(/^# TYPE ifc_stream_frames_dropped_total counter\nifc_stream_frames_dropped_total\{stream="cam"\} 2$/m);
    expect(out).toMatch(/^ifc_stream_socket_drops_total\{stream="cam"\} 5$/m);
    expect(out).toMatch(/^ifc_recording_breaks_total 1$/m);
    expect(out).toMatch(/^ifc_recording_frames_dropped_total 29$/m);
    expect(out).toMatch(/^ifc_decoder_units_dropped_total\{stream="cam",reason="hub_queue"\} 3$/m);
    expect(out).toMatch(/^ifc_decoder_units_dropped_total\{stream="cam",reason="backpressure"\} 6$/m);
    // The next scrape shows the new totals, not a sum of scrapes; no socket figure (not Linux): no series.
    drops = { frames: 7, socket: undefined };
    breaks.droppedAtBreaks = 30;
    out = await text(reg);
    expect(out).toMatch(/^ifc_stream_frames_dropped_total\{stream="cam"\} 7$/m);
    expect(out).not.toMatch(/^ifc_stream_socket_drops_total\{/m);
    expect(out).toMatch(/^ifc_recording_frames_dropped_total 30$/m);
  });

  it("without the AI feed's decoders there is no decoder series", async () => {
    const reg = dropMetrics({ registry: new StreamRegistry({ maxStreams: 1, readerQueueFrames: 8 }), recorder: { breakStats: () => ({ gaps: 0, droppedAtBreaks: 0 }) } });
    expect(await text(reg)).not.toMatch(/ifc_decoder_units_dropped_total/);
  });

  it("counts admission refusals by kind and shows the CPU reading against the limit", async () => {
    const reading = { percent: 12.5 };
    const admission = new CpuAdmission({ maxPercent: 10, percent: () => reading.percent, retryAfterSeconds: 2 });
    expect(() => admission.admit("whep")).toThrow();
    expect(() => admission.admit("rtsp")).toThrow();
    expect(() => admission.admit("rtsp")).toThrow();
    const out = await text(admissionMetrics({ refused: admission.refused, cpuPercent: () => reading.percent, maxCpuPercent: 10 }));
    expect(out).toMatch(/^ifc_admission_refused_total\{kind="whip"\} 0$/m);
    expect(out).toMatch(/^ifc_admission_refused_total\{kind="whep"\} 1$/m);
    expect(out).toMatch(/^ifc_admission_refused_total\{kind="rtsp"\} 2$/m);
    expect(out).toMatch(/^ifc_cpu_percent 12.5$/m);
    expect(out).toMatch(/^ifc_max_cpu_percent 10$/m);
  });
});
