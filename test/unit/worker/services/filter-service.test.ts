import { status } from "@grpc/grpc-js";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageData } from "../../../../src/generated/imageflow/v1/common.js";
import type { FilterResponse } from "../../../../src/generated/imageflow/v1/filter.js";
import { grpcError, unary } from "../../../support/grpc-client.js";
import { outputKey, startImageServices, type ImageServicesHarness } from "../../../support/image-services-harness.js";

let h: ImageServicesHarness;
let noisy: ImageData; // random pixels: blur must calm them
let line: ImageData; // flat gray with one dark vertical line at x 100..103
let noisyStd = 0;

const W = 200;
const H = 120;

beforeAll(async () => {
  h = await startImageServices();
  let seed = 7;
  const px = Buffer.alloc(W * H);
  for (let i = 0; i < px.length; i++) px[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const noisyPng = await sharp(px, { raw: { width: W, height: H, channels: 1 } }).png().toBuffer();
  noisy = await h.put("in/noisy.png", noisyPng, "image/png");
  noisyStd = (await sharp(noisyPng).stats()).channels[0]!.stdev;
  const flat = Buffer.alloc(W * H, 180);
  for (let y = 0; y < H; y++) for (let x = 100; x < 104; x++) flat[y * W + x] = 40;
  line = await h.put("in/line.png", await sharp(flat, { raw: { width: W, height: H, channels: 1 } }).png().toBuffer(), "image/png");
});
afterAll(() => h.close());

const apply = (input: ImageData, filterType: string, parameters: Record<string, string> = {}, key?: string) =>
  unary<FilterResponse>(h.filter, "applyFilter", { inputImage: input, filterType, parameters }, key ? outputKey(key) : undefined);

async function gray(image: ImageData | undefined): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(await h.store.get(image!.objectKey)).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const stdev = async (image: ImageData | undefined): Promise<number> => (await sharp(await h.store.get(image!.objectKey)).stats()).channels[0]!.stdev;

describe("FilterService.ApplyFilter", () => {
  it("blur lowers the variance, more with a larger sigma; sharpen raises it", async () => {
    const soft = await stdev((await apply(noisy, "blur")).result!.outputImage);
    const softer = await stdev((await apply(noisy, "blur", { sigma: "6" })).result!.outputImage);
    expect(soft).toBeLessThan(noisyStd * 0.5);
    expect(softer).toBeLessThan(soft);
    const blurred = await h.put("in/blurred.png", await h.store.get((await apply(noisy, "blur", { sigma: "3" })).result!.outputImage!.objectKey), "image/png");
    const blurredStd = await stdev(blurred);
    const sharpened = await stdev((await apply(blurred, "sharpen", { sigma: "2" })).result!.outputImage);
    expect(sharpened).toBeGreaterThan(blurredStd);
  });

  it("edge lights up a drawn line and leaves flat areas dark, same size and format", async () => {
    const res = await apply(line, "edge", {}, "results/edge.png");
    const out = res.result!.outputImage!;
    expect(out).toMatchObject({ objectKey: "results/edge.png", contentType: "image/png", width: W, height: H });
    const g = await gray(out);
    const row = 60 * W;
    // The bright sides next to the line answer the Laplacian; the flat part does not.
    expect(Math.max(g.data[row + 99]!, g.data[row + 104]!)).toBeGreaterThan(200);
    expect(g.data[row + 30]).toBeLessThan(10);
    expect(g.data[row + 170]).toBeLessThan(10);
  });

  it("names the allowed filters and parameters when one is wrong; sigma at its edges", async () => {
    const unknown = await grpcError(apply(line, "emboss"));
    expect(unknown.code).toBe(status.INVALID_ARGUMENT);
    expect(unknown.details).toMatch(/allowed: blur, sharpen, edge/);
    const param = await grpcError(apply(line, "blur", { radius: "3" }));
    expect(param.code).toBe(status.INVALID_ARGUMENT);
    expect(param.details).toMatch(/allowed: sigma/);
    expect((await grpcError(apply(line, "edge", { sigma: "1" }))).details).toMatch(/allowed: none/);
    for (const ok of ["0.3", "100"]) expect((await apply(line, "blur", { sigma: ok })).result!.outputImage!.width).toBe(W);
    for (const bad of ["0.29", "100.01", "", "abc", "NaN"]) {
      const err = await grpcError(apply(line, "blur", { sigma: bad }));
      expect(err.code, bad).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/0\.3\.\.100/);
    }
  });

  it("a missing input is NOT_FOUND", async () => {
    expect((await grpcError(apply({ ...line, objectKey: "in/gone.png" }, "blur"))).code).toBe(status.NOT_FOUND);
  });
});
