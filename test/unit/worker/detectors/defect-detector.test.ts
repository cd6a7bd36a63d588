import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { DefectDetector } from "../../../../src/worker/detectors/defect-detector.js";
import type { GrayFrame } from "../../../../src/worker/detectors/gray-frame.js";
import { shrinkGray } from "../../../../src/worker/detectors/shrink.js";
import { partImage } from "../../../support/part-image.js";

/** A 200×120 frame: dark border 10 px wide around a bright part (200), with `marks` painted dark (40). */
function frame(marks: (put: (x: number, y: number) => void) => void): GrayFrame {
  const width = 200, height = 120;
  const data = new Uint8Array(width * height).fill(20);
  for (let y = 10; y < height - 10; y++) data.fill(200, y * width + 10, y * width + width - 10);
  marks((x, y) => (data[y * width + x] = 40));
  return { data, width, height };
}

const square = (x0: number, y0: number, w: number, h: number) => (put: (x: number, y: number) => void) => {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) put(x, y);
};

describe("DefectDetector", () => {
  it("reports a component of exactly minArea pixels and not one pixel less", () => {
    const d = new DefectDetector({ minArea: 20 });
    const at = d.detect(frame(square(50, 50, 5, 4)));
    expect(at).toHaveLength(1);
    expect(at[0]).toMatchObject({ className: "dark_spot", area: 20, box: { x: 50, y: 50, width: 5, height: 4 } });
    const below = frame((put) => {
      square(50, 50, 5, 3)(put); // 15
      square(55, 50, 4, 1)(put); // + 4 touching it = 19
    });
    expect(d.detect(below)).toEqual([]);
  });

  it("joins diagonal neighbours (8-connectivity) and tells scratches from spots by elongation", () => {
    const d = new DefectDetector();
    const found = d.detect(frame((put) => {
      for (let i = 0; i < 60; i++) { put(30 + i, 20 + Math.floor(i / 3)); put(31 + i, 20 + Math.floor(i / 3)); } // slanted 2-px line
      square(150, 70, 9, 9)(put);
    }));
    const classes = found.map((f) => f.className).sort();
    expect(classes).toEqual(["dark_spot", "scratch"]);
    const scratch = found.find((f) => f.className === "scratch")!;
    expect(scratch.box).toEqual({ x: 30, y: 20, width: 61, height: 20 });
    expect(scratch.elongation).toBeGreaterThan(4);
    // Contrast of 40 on 200: (200 - 40) / 200.
    expect(scratch.confidence).toBeCloseTo(0.8, 2);
  });

  it("ignores the background, dark marks joined to it, and excluded boxes", () => {
    const d = new DefectDetector();
    // A notch running from the part's edge into the background is part of the background.
    const f = frame((put) => {
      square(10, 60, 30, 4)(put);
      square(100, 40, 10, 10)(put);
    });
    expect(d.detect(f).map((x) => x.box)).toEqual([{ x: 100, y: 40, width: 10, height: 10 }]);
    expect(d.detect(f, [{ x: 98, y: 38, width: 14, height: 14 }])).toEqual([]);
  });

  it("follows the part's brightness: the same marks are found on a dim part", () => {
    const dim = frame(square(100, 40, 10, 10));
    for (let i = 0; i < dim.data.length; i++) dim.data[i] = Math.round(dim.data[i]! * 0.5);
    expect(new DefectDetector().detect(dim)).toHaveLength(1);
  });

  it("without masking, a QR code's modules would be reported as defects", async () => {
    const img = await partImage({ defects: [], qr: { payload: "mask me", x: 600, y: 300, moduleSize: 8 } });
    const { data, info } = await sharp(img.data).greyscale().raw().toBuffer({ resolveWithObject: true });
    const f = { data, width: info.width, height: info.height };
    const d = new DefectDetector();
    expect(d.detect(f).length).toBeGreaterThan(3);
    const qr = img.truth[0]!;
    expect(d.detect(f, [{ x: qr.x - 8, y: qr.y - 8, width: qr.width + 16, height: qr.height + 16 }])).toEqual([]);
  });

  it("rejects options out of range", () => {
    expect(() => new DefectDetector({ darkRatio: 1 })).toThrow(RangeError);
    expect(() => new DefectDetector({ minArea: 0 })).toThrow(RangeError);
    expect(() => new DefectDetector({ scratchElongation: 1 })).toThrow(RangeError);
  });
});

describe("shrinkGray", () => {
  it("averages factor×factor blocks", () => {
    const f = { data: Uint8Array.from([0, 100, 10, 10, 200, 100, 10, 10]), width: 4, height: 2 };
    expect(shrinkGray(f, 2)).toEqual({ data: Uint8Array.from([100, 10]), width: 2, height: 1 });
    expect(shrinkGray(f, 1)).toBe(f);
    expect(() => shrinkGray(f, 1.5)).toThrow(RangeError);
  });
});
