import { describe, expect, it } from "vitest";
import { fromPreferredFormat, toPixelFormat, type FrameFormat } from "../../../src/extractor/frame-format.js";
import { LatencyWindow } from "../../../src/extractor/latency-window.js";
import { formatProductInfo } from "../../../src/extractor/product-info.js";
import { ProductTracker } from "../../../src/extractor/product-tracker.js";
import { PixelFormat } from "../../../src/generated/imageflow/v1/camera_stream.js";

/** The pure pieces the AI feed is built from: latency window, pixel format mapping, QR product tracking. */

describe("LatencyWindow", () => {
  it("is empty until a sample comes", () => {
    expect(new LatencyWindow(4).summary()).toBeUndefined();
  });

  it("gives nearest-rank percentiles of 1..100", () => {
    const w = new LatencyWindow(100);
    for (let i = 100; i >= 1; i--) w.push(i); // order does not matter
    expect(w.summary()).toEqual({ p50: 51, p95: 96, p99: 100, samples: 100 });
  });

  it("keeps only the last `size` samples", () => {
    const w = new LatencyWindow(3);
    for (const ms of [1000, 1000, 1000, 5, 6, 7]) w.push(ms);
    expect(w.summary()).toEqual({ p50: 6, p95: 7, p99: 7, samples: 3 });
  });

  it("refuses a size that is not a positive integer", () => {
    expect(() => new LatencyWindow(0)).toThrow(RangeError);
    expect(() => new LatencyWindow(1.5)).toThrow(RangeError);
  });
});

describe("frame formats on the wire", () => {
  it("maps each decoder format to its enum and back", () => {
    for (const f of ["gray8", "rgb24", "jpeg"] as FrameFormat[]) expect(fromPreferredFormat(toPixelFormat(f))).toBe(f);
    expect(toPixelFormat("jpeg")).toBe(PixelFormat.PIXEL_FORMAT_JPEG);
  });

  it("no preference is none; an unknown one falls back to GRAY8", () => {
    expect(fromPreferredFormat(PixelFormat.PIXEL_FORMAT_UNSPECIFIED)).toBeUndefined();
    expect(fromPreferredFormat(PixelFormat.UNRECOGNIZED)).toBe("gray8");
    expect(fromPreferredFormat(42 as PixelFormat)).toBe("gray8");
  });
});

describe("ProductTracker", () => {
  const qr = (payload: string) => ({ className: "qr_code", confidence: 1, attributes: { payload } });
  const motion = { className: "motion", confidence: 1, attributes: {} };
  const wo1 = formatProductInfo({ work_order: "WO1", machine_number: "M7" });
  const wo2 = formatProductInfo({ work_order: "WO2" });

  it("sees nothing in results without a product QR code", () => {
    const t = new ProductTracker();
    expect(t.observe([])).toBeUndefined();
    expect(t.observe([motion, qr("hello"), { className: "motion", confidence: 1, attributes: { payload: wo1 } }])).toBeUndefined();
    expect(t.last).toBeUndefined();
  });

  it("a payload is new once; the same code again is the same work piece; another is new", () => {
    const t = new ProductTracker();
    expect(t.observe([motion, qr(wo1)])).toEqual({ product: { work_order: "WO1", machine_number: "M7" }, isNew: true });
    expect(t.observe([qr(wo1)])?.isNew).toBe(false);
    expect(t.observe([qr(wo2)])).toEqual({ product: { work_order: "WO2" }, isNew: true });
    expect(t.last).toEqual({ work_order: "WO2" });
    // back to the first code: a new work piece again (it left the view in between)
    expect(t.observe([qr(wo1)])?.isNew).toBe(true);
  });

  it("takes the first product code of a frame, skipping codes that are not product information", () => {
    const t = new ProductTracker();
    expect(t.observe([qr("https://example.com"), qr(wo2), qr(wo1)])?.product.work_order).toBe("WO2");
    // a frame with no product code leaves the last one as it was
    t.observe([qr("nope")]);
    expect(t.last?.work_order).toBe("WO2");
  });
});
