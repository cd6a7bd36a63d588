import { describe, expect, it } from "vitest";
import { ModelTier } from "../../../src/generated/imageflow/v1/camera_stream.js";
import {
  computeOutputSpec,
  isQosPresetName,
  QOS_LEVELS,
  QOS_PRESETS,
  qosMin,
  qosStepDown,
  qosStepUp,
  toProtoModelTier,
} from "../../../src/extractor/qos-presets.js";

describe("QoS presets", () => {
  it("define 30/15/8 fps, 2160/1080/720 max height, full/standard/light tiers", () => {
    expect(QOS_PRESETS.high).toEqual({ name: "high", fps: 30, maxHeight: 2160, modelTier: "full" });
    expect(QOS_PRESETS.medium).toEqual({ name: "medium", fps: 15, maxHeight: 1080, modelTier: "standard" });
    expect(QOS_PRESETS.low).toEqual({ name: "low", fps: 8, maxHeight: 720, modelTier: "light" });
    expect(Object.isFrozen(QOS_PRESETS.high)).toBe(true);
  });

  it("order and step between levels, stopping at the ends", () => {
    expect(QOS_LEVELS).toEqual(["low", "medium", "high"]);
    expect(qosStepDown("high")).toBe("medium");
    expect(qosStepDown("medium")).toBe("low");
    expect(qosStepDown("low")).toBeUndefined();
    expect(qosStepUp("low")).toBe("medium");
    expect(qosStepUp("high")).toBeUndefined();
    expect(qosMin("high", "medium")).toBe("medium");
    expect(qosMin("low", "high")).toBe("low");
  });

  it("validates names (for the REST override)", () => {
    expect(isQosPresetName("medium")).toBe(true);
    expect(isQosPresetName("ultra")).toBe(false);
    expect(isQosPresetName(undefined)).toBe(false);
  });

  it("maps tiers to the proto enum by name; standard (absent from the proto) to FULL", () => {
    expect(toProtoModelTier("full")).toBe(ModelTier.MODEL_TIER_FULL);
    expect(toProtoModelTier("light")).toBe(ModelTier.MODEL_TIER_LIGHT);
    expect(toProtoModelTier("standard")).toBe(ModelTier.MODEL_TIER_FULL);
  });
});

describe("computeOutputSpec", () => {
  it("never upscales: a 720p source stays 720p at every preset", () => {
    for (const p of QOS_LEVELS) {
      const s = computeOutputSpec(p, { width: 1280, height: 720 });
      expect([s.width, s.height, s.scaled]).toEqual([1280, 720, false]);
    }
  });

  it("a source exactly at the preset's max height passes unscaled; one pixel more scales", () => {
    expect(computeOutputSpec("medium", { width: 1920, height: 1080 })).toMatchObject({ width: 1920, height: 1080, scaled: false });
    expect(computeOutputSpec("medium", { width: 1922, height: 1082 })).toMatchObject({ width: 1918, height: 1080, scaled: true });
  });

  it("scales 4K down per preset, keeping 16:9", () => {
    const src = { width: 3840, height: 2160 };
    expect(computeOutputSpec("high", src)).toMatchObject({ width: 3840, height: 2160, fps: 30, scaled: false, modelTier: "full", protoModelTier: ModelTier.MODEL_TIER_FULL });
    expect(computeOutputSpec("medium", src)).toMatchObject({ width: 1920, height: 1080, fps: 15, scaled: true, modelTier: "standard" });
    expect(computeOutputSpec("low", src)).toMatchObject({ width: 1280, height: 720, fps: 8, scaled: true, modelTier: "light", protoModelTier: ModelTier.MODEL_TIER_LIGHT });
  });

  it("keeps the aspect ratio to the nearest even width (4:3, 21:9, portrait)", () => {
    expect(computeOutputSpec("low", { width: 1440, height: 1080 })).toMatchObject({ width: 960, height: 720 });
    expect(computeOutputSpec("low", { width: 2560, height: 1080 })).toMatchObject({ width: 1706, height: 720 }); // 1706.67
    expect(computeOutputSpec("low", { width: 1080, height: 1920 })).toMatchObject({ width: 406, height: 720 }); // 405
  });

  it("outputs even dimensions when scaling, never wider than the source", () => {
    const s = computeOutputSpec("low", { width: 3, height: 1000 });
    expect(s.width % 2).toBe(0);
    expect(s.width).toBeLessThanOrEqual(3);
    expect(s.width).toBeGreaterThanOrEqual(2);
    for (const [w, h] of [[1921, 1081], [1279, 721], [4095, 2161], [641, 2000]] as const) {
      const o = computeOutputSpec("low", { width: w, height: h });
      expect(o.width % 2, `${w}x${h}`).toBe(0);
      expect(o.height % 2, `${w}x${h}`).toBe(0);
      expect(o.width).toBeLessThanOrEqual(w);
      expect(o.height).toBeLessThanOrEqual(h);
      expect(Math.abs(o.width / o.height - w / h)).toBeLessThan(0.01);
    }
  });

  it("never exceeds the source frame rate when it is known", () => {
    expect(computeOutputSpec("high", { width: 640, height: 480, fps: 20 }).fps).toBe(20);
    expect(computeOutputSpec("low", { width: 640, height: 480, fps: 20 }).fps).toBe(8);
    expect(computeOutputSpec("high", { width: 640, height: 480, fps: 0 }).fps).toBe(30);
  });

  it("accepts a custom preset object", () => {
    expect(computeOutputSpec({ name: "low", fps: 5, maxHeight: 480, modelTier: "light" }, { width: 1280, height: 720 })).toMatchObject({ fps: 5, width: 854, height: 480 });
  });

  it("rejects nonsense resolutions", () => {
    expect(() => computeOutputSpec("high", { width: 0, height: 720 })).toThrow(RangeError);
    expect(() => computeOutputSpec("high", { width: 1280.5, height: 720 })).toThrow(RangeError);
    expect(() => computeOutputSpec({ name: "low", fps: 0, maxHeight: 480, modelTier: "light" }, { width: 1, height: 1 })).toThrow(RangeError);
  });
});
