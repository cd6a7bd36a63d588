import { describe, expect, it } from "vitest";
import { combinedSpec } from "../../../src/extractor/decoder-manager.js";
import { ConflictError } from "../../../src/errors.js";

// combinedSpec is exported by decoder-manager.ts; the DecoderManager itself (one ffmpeg per
// stream, real processes) is tested in test/integration/stream-decoder.test.ts.
describe("combinedSpec", () => {
  it("takes the max rate and height, rgb24 over gray8", () => {
    expect(combinedSpec([{ fps: 5, maxHeight: 360, format: "gray8" }, { fps: 15, maxHeight: 240, format: "rgb24" }])).toEqual({ fps: 15, maxHeight: 360, format: "rgb24" });
    expect(combinedSpec([{ fps: 8, maxHeight: 720, format: "jpeg" }, { fps: 2, maxHeight: 1080, format: "jpeg" }])).toEqual({ fps: 8, maxHeight: 1080, format: "jpeg" });
  });

  it("refuses to mix JPEG and raw frames (409)", () => {
    expect(() => combinedSpec([{ fps: 5, maxHeight: 360, format: "gray8" }, { fps: 5, maxHeight: 360, format: "jpeg" }])).toThrow(ConflictError);
  });
});
