import { describe, expect, it } from "vitest";
import { conversionOptions, convertDetections, parseDetections, type Detection } from "../../../src/inspection/ai-result.js";

const det = (class_name: string, confidence: number): Detection => ({ class_name, confidence, bbox: { x: 10, y: 20, width: 30, height: 40 } });

describe("AI result conversion", () => {
  it("is NG when a defect class reaches the threshold, at the edge included, and names the defects", () => {
    const opts = { threshold: 0.8, defectClasses: ["dark_spot", "scratch"] };
    const at = convertDetections([det("dark_spot", 0.8), det("qr_code", 0.99), det("scratch", 0.5)], opts);
    expect(at.ai_result.overall_result).toBe("NG");
    expect(at.ai_result.confidence).toBe(0.8);
    expect(at.defect_types).toEqual(["dark_spot"]);
    // Every detection is reported, with its box, defect or not.
    expect(at.ai_result.detections.map((d) => d.class_name)).toEqual(["dark_spot", "qr_code", "scratch"]);
    expect(at.ai_result.detections[0]!.bbox).toEqual({ x: 10, y: 20, width: 30, height: 40 });
    const below = convertDetections([det("dark_spot", 0.7999), det("scratch", 0.5)], opts);
    expect(below.ai_result).toMatchObject({ overall_result: "OK", confidence: 0.2 });
    expect(below.defect_types).toEqual([]);
  });

  it("ignores classes that are not defects, and takes the item's own defect classes", () => {
    expect(convertDetections([det("qr_code", 1)], { threshold: 0.5, defectClasses: ["dark_spot"] }).ai_result).toMatchObject({ overall_result: "OK", confidence: 1 });
    const o = conversionOptions({ defect_classes: ["dent", 3], confidence_threshold: 0.6 });
    expect(o).toEqual({ threshold: 0.6, defectClasses: ["dark_spot", "scratch", "dent"] });
    expect(convertDetections([det("dent", 0.6)], o).ai_result.overall_result).toBe("NG");
    // The request's threshold wins over the item's; neither: 0.5.
    expect(conversionOptions({ confidence_threshold: 0.6 }, 0.9).threshold).toBe(0.9);
    expect(conversionOptions({}).threshold).toBe(0.5);
  });

  it("drops malformed detections of a raw result body", () => {
    const raw = [det("scratch", 0.9), { class_name: "x" }, null, { class_name: "y", confidence: "1", bbox: { x: 0, y: 0, width: 1, height: 1 } }, { class_name: "z", confidence: 0.5, bbox: { x: 0, y: 0, width: NaN, height: 1 } }];
    expect(parseDetections(raw)).toEqual([det("scratch", 0.9)]);
    expect(parseDetections({})).toEqual([]);
  });
});
