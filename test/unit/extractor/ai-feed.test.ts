import { describe, expect, it } from "vitest";
import type { AnalysisEvent } from "../../../src/extractor/analysis-event.js";
import { formatProductInfo } from "../../../src/extractor/product-info.js";
import { QosAboveMaximumError } from "../../../src/extractor/qos-controller.js";
import { ModelTier, PixelFormat } from "../../../src/generated/imageflow/v1/camera_stream.js";
import { startFeed } from "./ai-feed-harness.js";

/**
 * AiFeed on its own: the real feed, scheduler, QoS controller, backoff, breaker, registry and
 * event bus; fakes only for time (a manual clock), the worker calls and the decoder's frames.
 */

const qr = (payload: string) => ({ className: "qr_code", confidence: 1, attributes: { payload } });
const analysis = (e: { value: Record<string, unknown> }): AnalysisEvent => e.value as unknown as AnalysisEvent;

describe("AiFeed: session lifecycle", () => {
  it("a published video stream gets a frame subscription and a worker call; unpublishing ends both", () => {
    const h = startFeed();
    expect(h.pool.started).toBe(true);
    h.publish("cam1");
    expect(h.feed.sessionCount).toBe(1);
    // the decoder is asked for the highest preset's output, in GRAY8 until a worker says otherwise
    expect(h.frames.spec("cam1")).toEqual({ fps: 30, maxHeight: 2160, format: "gray8" });
    expect(h.pool.callCount("cam1")).toBe(1);
    expect(h.feed.stats("cam1")).toMatchObject({ state: "connecting", worker: "worker-a:50051", preset: "high", override: null });

    const call = h.pool.callOf("cam1");
    h.unpublish("cam1");
    expect(h.feed.sessionCount).toBe(0);
    expect(h.feed.stats("cam1")).toBeUndefined();
    expect(h.frames.feeds.get("cam1")?.closed).toBe(true);
    expect(call.cancelled).toBe(true);
  });

  it("streams live before start() are fed too; a stream without video is not", () => {
    const h = startFeed();
    h.publish("audio-only", { audio: { codec: "opus", channels: 2, sampleRate: 48000 } });
    expect(h.feed.sessionCount).toBe(0);
    expect(h.feed.stats("audio-only")).toBeUndefined();
    expect(h.frames.feeds.has("audio-only")).toBe(false);
  });

  it("close() ends every call, closes the pool and leaves no timer behind", async () => {
    const h = startFeed({ reconnectMinMs: 1000 });
    h.publish("a");
    h.publish("b");
    h.pool.callOf("b").emit("error", new Error("boom")); // b now has a retry timer
    await h.feed.close();
    expect(h.pool.closed).toBe(true);
    expect(h.pool.callOf("a").cancelled).toBe(true);
    expect(h.clock.pending).toBe(0);
    h.publish("late");
    expect(h.feed.sessionCount).toBe(0);
  });
});

describe("AiFeed: sessions cap and priorities", () => {
  it("at maxSessions a stream waits for a slot (not fed, 404-able), and takes the slot the next one frees", () => {
    const h = startFeed({ maxSessions: 1 });
    h.publish("first");
    h.publish("second");
    expect(h.feed.sessionCount).toBe(1);
    expect(h.feed.stats("second")).toMatchObject({ state: "waiting-for-slot", framesSent: 0 });
    expect(h.frames.feeds.has("second")).toBe(false);
    expect(h.pool.callCount("second")).toBe(0);
    expect(h.feed.setOverride("second", "low")).toBe(false);

    h.unpublish("first");
    expect(h.feed.sessionCount).toBe(1);
    expect(h.feed.stats("second")?.state).toBe("connecting");
    expect(h.pool.callCount("second")).toBe(1);
  });

  it("a waiting stream that ends leaves the queue", () => {
    const h = startFeed({ maxSessions: 1 });
    h.publish("first");
    h.publish("second");
    h.unpublish("second");
    h.unpublish("first");
    expect(h.feed.sessionCount).toBe(0);
    expect(h.pool.callCount("second")).toBe(0);
  });

  it("under the global frame cap, the higher-priority stream's frame goes first", () => {
    const h = startFeed({ maxFramesPerSecond: 1, priorities: new Map([["vip", 10]]) });
    h.publish("plain");
    h.publish("vip");
    h.pool.callOf("plain").grant(5);
    h.pool.callOf("vip").grant(5);
    h.frames.push("vip", h.clock); // takes the one token there is
    expect(h.pool.callOf("vip").written.length).toBe(1);
    // both wait for the next token; taking turns would serve 'plain' (served least recently),
    // priority serves 'vip' again
    h.frames.push("plain", h.clock);
    h.frames.push("vip", h.clock);
    expect(h.pool.callOf("plain").written.length).toBe(0); // held by the rate cap
    h.clock.advance(1000);
    expect(h.pool.callOf("vip").written.length).toBe(2);
    expect(h.pool.callOf("plain").written.length).toBe(0);
    h.clock.advance(1000);
    expect(h.pool.callOf("plain").written.length).toBe(1);
  });
});

describe("AiFeed: credits", () => {
  it("sends nothing without a credit, keeps only the newest frame, and sends it when a credit comes", () => {
    const h = startFeed();
    h.publish("cam");
    const call = h.pool.callOf("cam");
    h.frames.push("cam", h.clock);
    h.frames.push("cam", h.clock);
    const newest = h.frames.push("cam", h.clock, { width: 99 });
    expect(call.written.length).toBe(0);
    expect(h.feed.stats("cam")).toMatchObject({ framesOffered: 3, framesSent: 0, framesDropped: 2, credits: 0 });

    call.grant(2);
    expect(call.written.length).toBe(1);
    expect(call.written[0]?.width).toBe(newest.width);
    expect(h.feed.stats("cam")).toMatchObject({ framesSent: 1, credits: 1, outstanding: 1 });
    h.frames.push("cam", h.clock);
    h.frames.push("cam", h.clock);
    // two credits, two frames: never more frames than credits
    expect(call.written.length).toBe(2);
    expect(h.feed.stats("cam")).toMatchObject({ framesSent: 2, credits: 0, outstanding: 2 });
    expect(h.pool.outstanding).toBe(2);
  });

  it("writes the frame as the proto VideoFrame: sequence, stream, size, pixel format, model tier, capture time", () => {
    const h = startFeed();
    h.publish("cam");
    h.pool.callOf("cam").grant(1);
    const f = h.frames.push("cam", h.clock);
    const msg = h.pool.callOf("cam").written[0];
    expect(msg).toMatchObject({ streamId: "cam", sequence: 1, width: 64, height: 48, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, modelTier: ModelTier.MODEL_TIER_FULL, timestampMs: Math.round(f.wallClockMs) });
    expect(msg?.metadata).toEqual({ source_id: "cam", sent_at_ms: String(Math.round(h.clock.now())) });
    expect(msg?.frameData.length).toBe(64 * 48);
  });

  it("a result frees its frame (outstanding) and a credit with it lets the next frame go", () => {
    const h = startFeed();
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    h.frames.push("cam", h.clock);
    expect(call.written.length).toBe(1);
    call.result(1, [], 1);
    expect(call.written.length).toBe(2);
    expect(h.feed.stats("cam")).toMatchObject({ results: 1, outstanding: 1, state: "streaming" });
    expect(h.pool.outstanding).toBe(1);
  });

  it("a result for an unknown sequence changes nothing", () => {
    const h = startFeed();
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    call.result(42);
    expect(h.feed.stats("cam")).toMatchObject({ results: 0, outstanding: 1 });
    expect(h.events.length).toBe(0);
  });
});

describe("AiFeed: result timeout", () => {
  it("a frame without a result past resultTimeoutMs fails the call: breaker told, frames released, reconnect scheduled", () => {
    const h = startFeed({ resultTimeoutMs: 2000, tickMs: 250 });
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    h.clock.advance(2000);
    expect(call.cancelled).toBe(false); // at the deadline, not past it
    h.clock.advance(250);
    expect(call.cancelled).toBe(true);
    expect(h.pool.endpoint.breaker.streak).toBe(1);
    expect(h.pool.outstanding).toBe(0);
    expect(h.feed.stats("cam")).toMatchObject({ state: "backing-off", reconnects: 1, outstanding: 0 });
  });

  it("a result before the deadline keeps the call", () => {
    const h = startFeed({ resultTimeoutMs: 2000 });
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    h.clock.advance(1900);
    call.result(1);
    h.clock.advance(5000);
    expect(call.cancelled).toBe(false);
    expect(h.feed.stats("cam")?.reconnects).toBe(0);
  });
});

describe("AiFeed: reconnect backoff", () => {
  it("retries after min, then doubling delays up to max; a result resets it", () => {
    const h = startFeed({ reconnectMinMs: 1000, reconnectMaxMs: 4000 });
    h.publish("cam");
    const failAndMeasure = (): number => {
      const before = h.pool.callCount("cam");
      h.pool.callOf("cam").emit("error", new Error("UNAVAILABLE"));
      let waited = 0;
      while (h.pool.callCount("cam") === before) {
        h.clock.advance(10);
        waited += 10;
        if (waited > 60_000) throw new Error("no reconnect");
      }
      return waited;
    };
    // random() is 0.5: the jitter is zero, delays are the nominal ones
    expect([failAndMeasure(), failAndMeasure(), failAndMeasure(), failAndMeasure()]).toEqual([1000, 2000, 4000, 4000]);
    expect(h.feed.stats("cam")?.reconnects).toBe(4);

    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    call.result(1);
    expect(failAndMeasure()).toBe(1000);
  });

  it("the worker ending the stream is a failure like an error", () => {
    const h = startFeed();
    h.publish("cam");
    const first = h.pool.callOf("cam");
    first.emit("end");
    expect(first.cancelled).toBe(true);
    expect(h.feed.stats("cam")?.state).toBe("backing-off");
    h.clock.advance(1000);
    expect(h.pool.callCount("cam")).toBe(2);
  });

  it("with no usable worker it backs off and connects once one is usable", () => {
    const h = startFeed({ reconnectMinMs: 500, reconnectMaxMs: 500 });
    h.pool.available = false;
    h.publish("cam");
    expect(h.pool.callCount("cam")).toBe(0);
    expect(h.feed.stats("cam")?.state).toBe("backing-off");
    h.clock.advance(500);
    expect(h.pool.callCount("cam")).toBe(0);
    h.pool.available = true;
    h.clock.advance(500);
    expect(h.pool.callCount("cam")).toBe(1);
  });

  it("ignores what an ended call still emits, and a stale credit never sends on the new call", () => {
    const h = startFeed();
    h.publish("cam");
    const old = h.pool.callOf("cam");
    old.grant(3);
    old.emit("error", new Error("gone"));
    h.clock.advance(1000);
    const fresh = h.pool.callOf("cam");
    expect(fresh).not.toBe(old);
    old.emit("error", new Error("late error")); // no second failure
    old.grant(5); // its listeners are gone: nothing happens
    h.frames.push("cam", h.clock);
    expect(old.written.length).toBe(0);
    expect(fresh.written.length).toBe(0); // the new call has no credit yet
    expect(h.feed.stats("cam")?.reconnects).toBe(1);
    fresh.grant(1);
    expect(fresh.written.length).toBe(1);
  });
});

describe("AiFeed: results, events and QR product information", () => {
  it("publishes an analysis_completed event per result, with latencies on the feed's clock", () => {
    const h = startFeed();
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    const f = h.frames.push("cam", h.clock);
    h.clock.advance(40);
    call.result(1, [{ className: "motion", confidence: 1, attributes: {} }], 0, { received_at_ms: String(h.clock.now() - 30) });
    expect(h.events.length).toBe(1);
    const e = analysis(h.events[0] as { value: Record<string, unknown> });
    expect(h.events[0]?.key).toBe("cam");
    expect(e).toMatchObject({ event_type: "analysis_completed", stream_id: "cam", video_id: "rec-1", sequence: 1, worker: "worker-a:50051" });
    expect(e.analysis_results.detection_count).toBe(1);
    expect(e.frame).toMatchObject({ width: 64, height: 48, pixel_format: "gray8", preset: "high", model_tier: "full", captured_at: new Date(f.wallClockMs).toISOString() });
    expect(e.latency_ms).toEqual({ decodeMs: 8, toWorkerMs: 10, workerRoundTripMs: 40, totalMs: 50, workerReceivedMs: 20 });
    expect(e.product_info).toBeUndefined();
    expect(h.feed.stats("cam")?.latencyMs).toEqual({ p50: 50, p95: 50, p99: 50, samples: 1 });
    expect(h.feed.takeLatencySamples().map((s) => s.stage).sort()).toEqual(["decodeMs", "toWorkerMs", "totalMs", "workerReceivedMs", "workerRoundTripMs"]);
    expect(h.feed.takeLatencySamples()).toEqual([]);
  });

  it("tags the recording once per new QR product payload, and every event carries the product", () => {
    const h = startFeed();
    h.publish("line1");
    const call = h.pool.callOf("line1");
    call.grant(10);
    const a = formatProductInfo({ work_order: "WO1", product_type: "T-1", monthly_sequence: "7" });
    const b = formatProductInfo({ work_order: "WO2" });
    const results = [a, a, "https://not-a-product.example", b];
    results.forEach((payload, i) => {
      h.frames.push("line1", h.clock);
      call.result(i + 1, [qr(payload)]);
    });
    expect(h.tags).toEqual([
      { stream: "line1", tags: { work_order: "WO1", product_type: "T-1", monthly_sequence: "7" } },
      { stream: "line1", tags: { work_order: "WO2" } },
    ]);
    const products = h.events.map((e) => analysis(e).product_info?.work_order);
    expect(products).toEqual(["WO1", "WO1", undefined, "WO2"]);
    expect(h.feed.stats("line1")?.lastProductInfo).toEqual({ work_order: "WO2" });
  });

  it("without a recording the event's video_id is null", () => {
    const h = startFeed({}, null);
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    call.result(1, [qr(formatProductInfo({ work_order: "WO9" }))]);
    expect(analysis(h.events[0] as { value: Record<string, unknown> }).video_id).toBeNull();
    expect(h.tags.length).toBe(1); // asked, though nothing was recording
  });
});

describe("AiFeed: worker's preferred format and QoS override", () => {
  it("a worker asking for JPEG switches the decoder output, and the next frames go as JPEG", () => {
    const h = startFeed();
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1, PixelFormat.PIXEL_FORMAT_JPEG);
    expect(h.frames.spec("cam")?.format).toBe("jpeg");
    h.frames.push("cam", h.clock);
    expect(call.written[0]?.pixelFormat).toBe(PixelFormat.PIXEL_FORMAT_JPEG);
    call.grant(1, PixelFormat.PIXEL_FORMAT_RGB24);
    expect(h.frames.spec("cam")?.format).toBe("rgb24");
    // the same preference again does not touch the decoder
    const specs = h.frames.feeds.get("cam")?.specs.length;
    call.grant(1, PixelFormat.PIXEL_FORMAT_RGB24);
    expect(h.frames.feeds.get("cam")?.specs.length).toBe(specs);
  });

  it("a preference the decoder refuses (JPEG beside a raw consumer) keeps the current format", () => {
    const h = startFeed();
    h.frames.refuse = "jpeg";
    h.publish("cam");
    const call = h.pool.callOf("cam");
    call.grant(1, PixelFormat.PIXEL_FORMAT_JPEG);
    expect(h.frames.spec("cam")?.format).toBe("gray8");
    h.frames.push("cam", h.clock);
    expect(call.written[0]?.pixelFormat).toBe(PixelFormat.PIXEL_FORMAT_GRAY8);
    // and a later preference the decoder can serve still applies
    call.grant(1, PixelFormat.PIXEL_FORMAT_RGB24);
    expect(h.frames.spec("cam")?.format).toBe("rgb24");
  });

  it("a worker that grants no credits while frames keep coming steps the stream down (scheduler → QoS → decoder spec)", () => {
    const h = startFeed({ qos: { stepDownAfterMs: 1000, stepUpAfterMs: 60_000, noCreditRatio: 0.5, dropRatio: 0.5, latencyMs: 60_000 } });
    h.publish("cam");
    expect(h.frames.spec("cam")?.fps).toBe(30);
    // 30 fps for 3 s, never a credit: every frame waits, and each newer one drops the older
    for (let i = 0; i < 90 && h.feed.stats("cam")?.preset === "high"; i++) {
      h.frames.push("cam", h.clock);
      h.clock.advance(33);
    }
    expect(h.feed.stats("cam")?.preset).toBe("medium");
    expect(h.frames.spec("cam")).toMatchObject({ fps: 15, maxHeight: 1080 });
    // not before the lag had lasted stepDownAfterMs
    expect(h.feed.stats("cam")?.framesOffered).toBeGreaterThanOrEqual(30);
  });

  it("a pinned preset does not step down however the worker lags", () => {
    const h = startFeed({ qos: { stepDownAfterMs: 1000, stepUpAfterMs: 60_000, noCreditRatio: 0.5, dropRatio: 0.5, latencyMs: 60_000 } });
    h.publish("cam");
    h.feed.setOverride("cam", "high");
    for (let i = 0; i < 150; i++) {
      h.frames.push("cam", h.clock);
      h.clock.advance(33);
    }
    expect(h.feed.stats("cam")).toMatchObject({ preset: "high", override: "high" });
    expect(h.feed.stats("cam")?.framesDropped).toBeGreaterThan(100);
  });

  it("an override pins the preset (decoder spec, model tier); above maxPreset it throws; null hands back to auto", () => {
    const h = startFeed({ maxPreset: "medium" });
    h.publish("cam");
    expect(h.frames.spec("cam")).toMatchObject({ fps: 15, maxHeight: 1080 });
    expect(() => h.feed.setOverride("cam", "high")).toThrow(QosAboveMaximumError);
    expect(h.feed.stats("cam")?.override).toBeNull();

    const change = h.feed.setOverride("cam", "low");
    expect(change).toMatchObject({ from: "medium", to: "low" });
    expect(h.frames.spec("cam")).toEqual({ fps: 8, maxHeight: 720, format: "gray8" });
    const call = h.pool.callOf("cam");
    call.grant(1);
    h.frames.push("cam", h.clock);
    expect(call.written[0]?.modelTier).toBe(ModelTier.MODEL_TIER_LIGHT);

    h.feed.setOverride("cam", null);
    expect(h.feed.stats("cam")?.override).toBeNull();
    expect(h.feed.setOverride("nobody", "low")).toBe(false);
  });
});
