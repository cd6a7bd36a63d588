import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DetectionRequest, DetectionResponse } from "../../../../src/generated/imageflow/v1/ai_detection.js";
import type { Detection, ImageData } from "../../../../src/generated/imageflow/v1/common.js";
import type { ResizeResponse } from "../../../../src/generated/imageflow/v1/resize.js";
import { grpcError, unary } from "../../../support/grpc-client.js";
import { outputKey, startImageServices, type ImageServicesHarness } from "../../../support/image-services-harness.js";
import { boxError, partImage, type GroundTruthBox } from "../../../support/part-image.js";

let h: ImageServicesHarness;
let full: ImageData;
let truth: GroundTruthBox[];
const PAYLOAD = "LOT-2026-11/SN-000417";

beforeAll(async () => {
  h = await startImageServices();
  const img = await partImage({ qr: { payload: PAYLOAD, x: 1480, y: 280, moduleSize: 8 } });
  truth = img.truth;
  full = await h.put("in/part.jpg", img.data);
});
afterAll(() => h.close());

const detect = (input: ImageData, o: Partial<DetectionRequest> = {}) =>
  unary<DetectionResponse>(h.detection, "detect", { inputImage: input, modelName: "", confidenceThreshold: 0, targetClasses: [], ...o });

/** Pairs each truth box with the detection of its class nearest to it (scaled by `s`). */
function expectMatches(dets: Detection[], expected: GroundTruthBox[], s: number, tolerancePx: number): void {
  expect(dets.map((d) => d.className).sort()).toEqual(expected.map((t) => t.className).sort());
  for (const t of expected) {
    const scaled = { x: t.x * s, y: t.y * s, width: t.width * s, height: t.height * s };
    const errors = dets.filter((d) => d.className === t.className).map((d) => boxError(d.bbox!, scaled));
    expect(Math.min(...errors), `${t.className} at ${t.x},${t.y}`).toBeLessThanOrEqual(tolerancePx);
    if (t.payload) expect(dets.find((d) => d.className === "qr_code")!.attributes.payload).toBe(t.payload);
  }
}

describe("AIDetectionService.Detect (reference model)", () => {
  it("finds exactly the drawn defects and decodes the QR code on a 1920×1080 JPEG", async () => {
    const res = await detect(full);
    expectMatches(res.detections, truth, 1, 3);
    for (const d of res.detections) expect(d.confidence).toBeGreaterThan(0.5);
    expect(res.result!.metadata).toMatchObject({ model_name: "reference", detections: "5", count_qr_code: "1", count_dark_spot: "2", count_scratch: "2" });
    // Detection writes nothing: its output is its input, with the real dimensions.
    expect(res.result!.outputImage).toMatchObject({ objectKey: "in/part.jpg", width: 1920, height: 1080, contentType: "image/jpeg" });
  });

  it("still does after a resize to 1280×720 (boxes in the resized image's pixels)", async () => {
    const resized = await unary<ResizeResponse>(h.resize, "resize", { inputImage: full, targetWidth: 1280, targetHeight: 720, resizeMode: "fit", maintainAspectRatio: true }, outputKey("runs/r1/resized.jpg"));
    const res = await detect(resized.result!.outputImage!);
    expectMatches(res.detections, truth, 1280 / 1920, 3);
  });

  it("target_classes and confidence_threshold filter the results", async () => {
    const spots = await detect(full, { targetClasses: ["dark_spot"] });
    expect(spots.detections.map((d) => d.className)).toEqual(["dark_spot", "dark_spot"]);
    const qrAndScratch = await detect(full, { targetClasses: ["qr_code", "scratch"] });
    expect(qrAndScratch.detections.map((d) => d.className).sort()).toEqual(["qr_code", "scratch", "scratch"]);
    // Defect confidences are contrasts below 1; the decoded QR code is certain.
    const all = await detect(full);
    const top = Math.max(...all.detections.filter((d) => d.className !== "qr_code").map((d) => d.confidence));
    const sure = await detect(full, { confidenceThreshold: top + 0.001 });
    expect(sure.detections.map((d) => d.className)).toEqual(["qr_code"]);
    const atTop = await detect(full, { confidenceThreshold: top });
    expect(atTop.detections.length).toBe(2); // threshold inclusive: the top defect stays
  });

  it("refuses a model it does not serve, naming the ones it does, before reading the input", async () => {
    const err = await grpcError(detect({ ...full, objectKey: "in/absent.jpg" }, { modelName: "yolo11" }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/served models: reference/);
    expect((await detect(full, { modelName: "reference", targetClasses: ["qr_code"] })).detections).toHaveLength(1);
    expect((await grpcError(detect(full, { targetClasses: ["cat"] }))).details).toMatch(/qr_code, dark_spot, scratch/);
    expect((await grpcError(detect(full, { confidenceThreshold: 1.5 }))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("reads a small code (3 px per module at 1920×1080) by searching again at full resolution", async () => {
    const small = await partImage({ qr: { payload: PAYLOAD, x: 1480, y: 280, moduleSize: 3 } });
    const res = await detect(await h.put("in/small-qr.jpg", small.data));
    expectMatches(res.detections, small.truth, 1, 3);
  });

  it("a clean part yields nothing", async () => {
    const clean = await partImage({ defects: [] });
    const res = await detect(await h.put("in/clean.jpg", clean.data));
    expect(res.detections).toEqual([]);
  });
});
