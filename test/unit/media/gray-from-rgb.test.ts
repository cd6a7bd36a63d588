import { describe, expect, it } from "vitest";
import { grayFromRgb } from "../../../src/media/gray-from-rgb.js";

describe("grayFromRgb", () => {
  it("BT.601 luma per pixel", () => {
    const rgb = Buffer.from([255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128]);
    expect([...grayFromRgb(rgb, 3, 2)]).toEqual([255, 0, 76, 149, 28, 128]);
  });
});
