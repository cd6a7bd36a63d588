/**
 * QoS presets for the AI feed: how many frames per second, how large, and which model tier
 * the worker should run. The controller moves a stream between them; the decoder is told the
 * resulting output spec.
 */
import { ModelTier } from "../generated/imageflow/v1/camera_stream.js";

export type QosPresetName = "high" | "medium" | "low";

/** Hint to the worker, lightest last. "standard" has no enum value of its own on the wire. */
export type ModelTierHint = "full" | "standard" | "light";

export interface QosPreset {
  readonly name: QosPresetName;
  readonly fps: number;
  /** Largest output height (pixels); sources are never upscaled. */
  readonly maxHeight: number;
  readonly modelTier: ModelTierHint;
}

export const QOS_PRESETS: Readonly<Record<QosPresetName, QosPreset>> = Object.freeze({
  high: Object.freeze({ name: "high", fps: 30, maxHeight: 2160, modelTier: "full" }),
  medium: Object.freeze({ name: "medium", fps: 15, maxHeight: 1080, modelTier: "standard" }),
  low: Object.freeze({ name: "low", fps: 8, maxHeight: 720, modelTier: "light" }),
});

/** Lowest to highest: an index in this list is the preset's level. */
export const QOS_LEVELS: readonly QosPresetName[] = Object.freeze(["low", "medium", "high"] as const);

export function isQosPresetName(value: unknown): value is QosPresetName {
  return value === "high" || value === "medium" || value === "low";
}

/** 0 for low … 2 for high. */
export function qosLevel(name: QosPresetName): number {
  return QOS_LEVELS.indexOf(name);
}

/** The next lighter preset, or undefined at the bottom. */
export function qosStepDown(name: QosPresetName): QosPresetName | undefined {
  return QOS_LEVELS[qosLevel(name) - 1];
}

/** The next heavier preset, or undefined at the top. */
export function qosStepUp(name: QosPresetName): QosPresetName | undefined {
  return QOS_LEVELS[qosLevel(name) + 1];
}

/** The lower of two presets (used to cap a preset at a configured maximum). */
export function qosMin(a: QosPresetName, b: QosPresetName): QosPresetName {
  return qosLevel(a) <= qosLevel(b) ? a : b;
}

/**
 * The wire enum, matched by name. The proto has no STANDARD tier, so "standard" maps to FULL:
 * a medium stream keeps every detector (the reference worker's LIGHT tier drops QR decoding)
 * and sheds load by rate and size only.
 */
export function toProtoModelTier(hint: ModelTierHint): ModelTier {
  switch (hint) {
    case "full":
    case "standard":
      return ModelTier.MODEL_TIER_FULL;
    case "light":
      return ModelTier.MODEL_TIER_LIGHT;
  }
}

export interface SourceVideo {
  width: number;
  height: number;
  /** Source frame rate when known; output never exceeds it. */
  fps?: number;
}

export interface OutputSpec {
  preset: QosPresetName;
  /** Frames per second to sample (min of the preset's rate and the source's, when known). */
  fps: number;
  width: number;
  height: number;
  /** False when the source already fits: frames pass at source size, no scaling. */
  scaled: boolean;
  modelTier: ModelTierHint;
  protoModelTier: ModelTier;
}

const even = (n: number): number => 2 * Math.floor(n / 2);

/**
 * Output size and rate for a preset and a source. Height = min(source, preset max) — never an
 * upscale; when scaling down, height and width are even (what 4:2:0 scalers and encoders want)
 * and width keeps the source's aspect ratio to the nearest even pixel, never wider than the
 * source. A source within the limit passes at its own size, odd or not, rather than be
 * resampled by a pixel.
 */
export function computeOutputSpec(preset: QosPresetName | QosPreset, source: SourceVideo): OutputSpec {
  const p = typeof preset === "string" ? QOS_PRESETS[preset] : preset;
  if (!(Number.isInteger(source.width) && source.width > 0 && Number.isInteger(source.height) && source.height > 0)) {
    throw new RangeError(`source resolution must be positive integers, got ${source.width}x${source.height}`);
  }
  if (!(Number.isInteger(p.maxHeight) && p.maxHeight >= 2)) throw new RangeError(`preset maxHeight must be an integer >= 2, got ${p.maxHeight}`);
  if (!(p.fps > 0)) throw new RangeError(`preset fps must be > 0, got ${p.fps}`);
  const fps = source.fps !== undefined && source.fps > 0 ? Math.min(p.fps, source.fps) : p.fps;
  const base = { preset: p.name, fps, modelTier: p.modelTier, protoModelTier: toProtoModelTier(p.modelTier) };
  if (source.height <= p.maxHeight) return { ...base, width: source.width, height: source.height, scaled: false };
  const height = even(p.maxHeight);
  const exactWidth = (source.width * height) / source.height;
  const width = Math.max(2, Math.min(even(source.width), 2 * Math.round(exactWidth / 2)));
  return { ...base, width, height, scaled: true };
}
