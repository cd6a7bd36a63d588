import { status } from "@grpc/grpc-js";
import sharp, { type Metadata } from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResizeRequest, ResizeResponse } from "../../../../src/generated/imageflow/v1/resize.js";
import { ProcessingStatus, type ImageData } from "../../../../src/generated/imageflow/v1/common.js";
import { grpcError, unary } from "../../../support/grpc-client.js";
import { outputKey, startImageServices, type ImageServicesHarness } from "../../../support/image-services-harness.js";

let h: ImageServicesHarness;
let jpeg: ImageData; // 640×360
let png: ImageData; // 300×200

const MAX_EDGE = 1000;
const MAX_INPUT = 200_000;
const MAX_PIXELS = 640 * 360; // the JPEG input is exactly at the limit

beforeAll(async () => {
  h = await startImageServices({ bucket: "images", maxEdge: MAX_EDGE, maxInputBytes: MAX_INPUT, maxInputPixels: MAX_PIXELS });
  const base = sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 90, g: 140, b: 200 } } });
  jpeg = await h.put("in/a.jpg", await base.clone().jpeg().toBuffer());
  png = await h.put("in/b.png", await sharp({ create: { width: 300, height: 200, channels: 4, background: "#808080" } }).png().toBuffer(), "image/png");
});
afterAll(() => h.close());

const req = (input: ImageData, w: number, hgt: number, mode = "fit", keep = true): ResizeRequest => ({
  inputImage: input, targetWidth: w, targetHeight: hgt, resizeMode: mode, maintainAspectRatio: keep,
});
const resize = (r: ResizeRequest, key?: string) => unary<ResizeResponse>(h.resize, "resize", r, key ? outputKey(key) : undefined);

async function stored(image: ImageData | undefined): Promise<Metadata> {
  expect(image).toBeDefined();
  return sharp(await h.store.get(image!.objectKey)).metadata();
}

describe("ResizeService.Resize", () => {
  it.each([
    ["fit", true, 400, 400, 400, 225],
    ["fill", true, 400, 400, 400, 400],
    ["stretch", true, 400, 400, 400, 400],
    ["fit", false, 400, 400, 400, 400], // maintain_aspect_ratio=false forces stretch
    ["fit", true, 320, 0, 320, 180], // one side 0: the aspect comes from the other
    ["fill", true, 0, 90, 160, 90],
  ])("%s (keep aspect %s) into %ix%i gives %ix%i", async (mode, keep, w, hgt, ew, eh) => {
    const res = await resize(req(jpeg, w, hgt, mode, keep));
    const out = res.result!.outputImage!;
    expect([out.width, out.height]).toEqual([ew, eh]);
    const meta = await stored(out);
    expect([meta.width, meta.height, meta.format]).toEqual([ew, eh, "jpeg"]);
    expect(out.sizeBytes).toBe((await h.store.stat(out.objectKey))!.size);
    expect(out.bucket).toBe("images");
    expect(out.objectKey).toMatch(/^derived\/[0-9a-f-]{36}\.jpg$/);
    expect(res.result!.status).toBe(ProcessingStatus.PROCESSING_STATUS_COMPLETED);
  });

  it("fill crops the centre: a left/right split image keeps both halves in a narrow box", async () => {
    const split = await sharp({ create: { width: 200, height: 100, channels: 3, background: "#000000" } })
      .composite([{ input: { create: { width: 100, height: 100, channels: 3, background: "#ffffff" } }, left: 100, top: 0 }])
      .png().toBuffer();
    const input = await h.put("in/split.png", split, "image/png");
    const res = await resize(req(input, 50, 100, "fill"));
    const { data, info } = await sharp(await h.store.get(res.result!.outputImage!.objectKey)).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([50, 100]);
    // Cropped from the middle (x 75..125 of the source): dark on the left, white on the right.
    expect(data[50 * 50 + 2]).toBeLessThan(30);
    expect(data[50 * 50 + 47]).toBeGreaterThan(225);
  });

  it("keeps PNG as PNG and honours ifc-output-key", async () => {
    const res = await resize(req(png, 150, 100, "stretch"), "results/run-1/step-resize.png");
    const out = res.result!.outputImage!;
    expect(out).toMatchObject({ objectKey: "results/run-1/step-resize.png", contentType: "image/png", width: 150, height: 100 });
    expect((await stored(out)).format).toBe("png");
    const webp = await h.put("in/c.webp", await sharp({ create: { width: 120, height: 80, channels: 3, background: "#336699" } }).webp().toBuffer(), "image/webp");
    const w = (await resize(req(webp, 60, 0))).result!.outputImage!;
    expect(w).toMatchObject({ contentType: "image/webp", width: 60, height: 40 });
    expect(w.objectKey).toMatch(/\.webp$/);
    expect((await stored(w)).format).toBe("webp");
    const gif = await h.put("in/d.gif", await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).gif().toBuffer(), "image/gif");
    expect((await grpcError(resize(req(gif, 4, 4)))).details).toMatch(/supported formats: jpeg, png, webp/);
  });

  it("refuses sizes out of range with INVALID_ARGUMENT, the max edge included at its edge", async () => {
    const ok = await resize(req(jpeg, MAX_EDGE, 10, "stretch"));
    expect(ok.result!.outputImage!.width).toBe(MAX_EDGE);
    for (const [w, hgt] of [[-1, 100], [0, 0], [MAX_EDGE + 1, 10], [10, MAX_EDGE + 1]] as const) {
      const err = await grpcError(resize(req(jpeg, w, hgt, "stretch")));
      expect(err.code, `${w}x${hgt}`).toBe(status.INVALID_ARGUMENT);
    }
    // One side given, the derived one over the limit (640×360 at height 600 → 1067 wide).
    expect((await grpcError(resize(req(jpeg, 0, 600)))).details).toMatch(/max edge of 1000/);
    const mode = await grpcError(resize(req(jpeg, 10, 10, "squash")));
    expect(mode.code).toBe(status.INVALID_ARGUMENT);
    expect(mode.details).toMatch(/fit, fill, stretch/);
  });

  it("bad references: other bucket, missing object, undecodable bytes, bad output key", async () => {
    const other = await grpcError(resize(req({ ...jpeg, bucket: "elsewhere" }, 10, 10)));
    expect(other.code).toBe(status.INVALID_ARGUMENT);
    expect(other.details).toMatch(/serves bucket "images"/);
    expect((await resize(req({ ...jpeg, bucket: "images" }, 10, 10))).result!.outputImage!.width).toBe(10);
    expect((await grpcError(resize(req({ ...jpeg, objectKey: "in/none.jpg" }, 10, 10)))).code).toBe(status.NOT_FOUND);
    const junk = await h.put("in/junk.jpg", Buffer.from("not an image at all"));
    expect((await grpcError(resize(req(junk, 10, 10)))).code).toBe(status.INVALID_ARGUMENT);
    const full = await h.store.get(jpeg.objectKey);
    const truncated = await h.put("in/truncated.jpg", full.subarray(0, Math.floor(full.length / 2)));
    expect((await grpcError(resize(req(truncated, 10, 10)))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(resize(req(jpeg, 10, 10), "../escape.jpg"))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("max input bytes at its edge: exactly the limit is read, one byte more is RESOURCE_EXHAUSTED", async () => {
    const base = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#404040" } }).png().toBuffer();
    // PNG readers ignore bytes after IEND: pad a valid image to an exact size.
    const pad = (size: number) => Buffer.concat([base, Buffer.alloc(size - base.length)]);
    const atLimit = await h.put("in/at-limit.png", pad(MAX_INPUT), "image/png");
    expect((await resize(req(atLimit, 32, 32))).result!.outputImage!.width).toBe(32);
    const over = await h.put("in/over-limit.png", pad(MAX_INPUT + 1), "image/png");
    const err = await grpcError(resize(req(over, 32, 32)));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/200001 bytes, over the limit of 200000/);
  });

  it("max input pixels at its edge: 640×360 is decoded, 641×360 is RESOURCE_EXHAUSTED", async () => {
    expect((await resize(req(jpeg, 64, 36))).result!.outputImage!.width).toBe(64);
    const wide = await h.put("in/wide.png", await sharp({ create: { width: 641, height: 360, channels: 3, background: "#202020" } }).png().toBuffer(), "image/png");
    const err = await grpcError(resize(req(wide, 64, 36)));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/641x360 = 230760 pixels, over the limit of 230400/);
  });
});
