/**
 * The documents' `ai_result` (API design §6.1.2) from a detection step's boxes: NG when any
 * detection of a defect class reaches the confidence threshold, else OK.
 */

export interface Detection {
  class_name: string;
  confidence: number;
  bbox: { x: number; y: number; width: number; height: number };
}

/** The reference detector's defect classes; an item adds its own in criteria.defect_classes. */
export const DEFAULT_DEFECT_CLASSES: readonly string[] = ["dark_spot", "scratch"];
/** Used when neither the request nor the item's criteria name a threshold. */
export const DEFAULT_CONFIDENCE_THRESHOLD = 0.5;

export interface AiResult {
  overall_result: "OK" | "NG";
  /** NG: the highest confidence among the defects found; OK: 1 − the highest defect confidence seen below the threshold (1 with none). */
  confidence: number;
  detections: Detection[];
}

export interface Conversion {
  ai_result: AiResult;
  /** The defect classes that made it NG (distinct, sorted): what statistics count. */
  defect_types: string[];
}

/** Reads detections from an untrusted result body; anything malformed is dropped, not guessed. */
export function parseDetections(raw: unknown): Detection[] {
  if (!Array.isArray(raw)) return [];
  const out: Detection[] = [];
  for (const d of raw as unknown[]) {
    if (!d || typeof d !== "object") continue;
    const o = d as Record<string, unknown>;
    const b = o.bbox as Record<string, unknown> | undefined;
    const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
    if (typeof o.class_name !== "string" || !num(o.confidence) || !b || !num(b.x) || !num(b.y) || !num(b.width) || !num(b.height)) continue;
    out.push({ class_name: o.class_name, confidence: o.confidence, bbox: { x: b.x, y: b.y, width: b.width, height: b.height } });
  }
  return out;
}

export function convertDetections(detections: readonly Detection[], opts: { threshold: number; defectClasses: readonly string[] }): Conversion {
  const defects = new Set(opts.defectClasses);
  const candidates = detections.filter((d) => defects.has(d.class_name));
  const hits = candidates.filter((d) => d.confidence >= opts.threshold);
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  const list = detections.map((d) => ({ class_name: d.class_name, confidence: d.confidence, bbox: { ...d.bbox } }));
  if (hits.length > 0) {
    return {
      ai_result: { overall_result: "NG", confidence: round(Math.max(...hits.map((d) => d.confidence))), detections: list },
      defect_types: [...new Set(hits.map((d) => d.class_name))].sort(),
    };
  }
  const highest = candidates.length > 0 ? Math.max(...candidates.map((d) => d.confidence)) : 0;
  return { ai_result: { overall_result: "OK", confidence: round(1 - highest), detections: list }, defect_types: [] };
}

/** The item's criteria as conversion options, overridden by the request's threshold. */
export function conversionOptions(criteria: Record<string, unknown>, requestThreshold?: number): { threshold: number; defectClasses: string[] } {
  const own = Array.isArray(criteria.defect_classes) ? criteria.defect_classes.filter((c): c is string => typeof c === "string") : [];
  const itemThreshold = typeof criteria.confidence_threshold === "number" ? criteria.confidence_threshold : undefined;
  return { threshold: requestThreshold ?? itemThreshold ?? DEFAULT_CONFIDENCE_THRESHOLD, defectClasses: [...new Set([...DEFAULT_DEFECT_CLASSES, ...own])] };
}
