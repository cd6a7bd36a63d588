import sharp from "sharp";
import type { Detection } from "../../generated/imageflow/v1/common.js";
import { DefectDetector, type DefectDetectorOptions } from "../detectors/defect-detector.js";
import type { GrayFrame } from "../detectors/gray-frame.js";
import { QrDetector, type QrResult } from "../detectors/qr-detector.js";
import { shrinkGray } from "../detectors/shrink.js";
import { invalid } from "./errors.js";
import { decodeWith, type LoadedImage } from "./image-io.js";

/** The models this instance serves; "" means the default, "reference". */
export const REFERENCE_MODELS: readonly string[] = ["reference"];
export const REFERENCE_CLASSES: readonly string[] = ["qr_code", "dark_spot", "scratch"];

export interface DetectParams {
  modelName: string;
  confidenceThreshold: number;
  targetClasses: string[];
}

export interface ReferenceDetectorOptions {
  defects?: DefectDetectorOptions;
  /** Pixels around a decoded QR code's box kept out of defect detection, plus 10 % of its size (default 8). */
  qrMarginPx?: number;
  /**
   * QR codes are searched on the image shrunk by an integer factor until its longer side is at
   * most this (default 1280): a 1920×1080 input is read at 960×540, 4× fewer pixels. Codes under
   * about 2 pixels per module after shrinking are missed; Infinity reads at full resolution.
   */
  qrMaxSide?: number;
  /**
   * When the shrunk search finds no code, search again at full resolution (default true): small
   * codes are still read, at the price of a second search on images without any code.
   */
  qrRetryFullResolution?: boolean;
}

/**
 * The reference model: QR codes (jsQR, with their payload) and dark defects on a bright part.
 * The QR code's own modules are dark marks on the part, so its box is masked before defects are
 * looked for. Detectors run synchronously, so one instance of each serves every call.
 */
export class ReferenceDetector {
  private readonly qr = new QrDetector();
  private readonly defects: DefectDetector;
  private readonly qrMarginPx: number;
  private readonly qrMaxSide: number;
  private readonly qrRetryFullResolution: boolean;
  private shrunk: Uint8Array = new Uint8Array(0);

  constructor(opts: ReferenceDetectorOptions = {}) {
    this.defects = new DefectDetector(opts.defects);
    this.qrMarginPx = opts.qrMarginPx ?? 8;
    this.qrMaxSide = opts.qrMaxSide ?? 1280;
    this.qrRetryFullResolution = opts.qrRetryFullResolution ?? true;
    if (!(this.qrMarginPx >= 0)) throw new RangeError(`qrMarginPx must be >= 0, got ${this.qrMarginPx}`);
    if (!(this.qrMaxSide >= 64)) throw new RangeError(`qrMaxSide must be >= 64, got ${this.qrMaxSide}`);
  }

  static check(p: DetectParams): void {
    if (p.modelName !== "" && !REFERENCE_MODELS.includes(p.modelName)) {
      throw invalid(`model_name "${p.modelName}" is not served by this instance; served models: ${REFERENCE_MODELS.join(", ")}`);
    }
    if (!(p.confidenceThreshold >= 0 && p.confidenceThreshold <= 1)) throw invalid(`confidence_threshold must be in 0..1, got ${p.confidenceThreshold}`);
    const unknown = p.targetClasses.filter((c) => !REFERENCE_CLASSES.includes(c));
    if (unknown.length > 0) throw invalid(`target_classes ${unknown.join(", ")} unknown; the reference model detects ${REFERENCE_CLASSES.join(", ")}`);
  }

  async detect(input: LoadedImage, p: DetectParams): Promise<Detection[]> {
    ReferenceDetector.check(p);
    const { data, info } = await decodeWith(input.ref.objectKey, () => sharp(input.bytes).greyscale().raw().toBuffer({ resolveWithObject: true }));
    const frame = { data, width: info.width, height: info.height };
    const wanted = (c: string): boolean => p.targetClasses.length === 0 || p.targetClasses.includes(c);
    const out: Detection[] = [];
    const code = this.findQr(frame);
    const exclude = [];
    if (code) {
      if (wanted("qr_code")) out.push({ className: "qr_code", confidence: 1, bbox: code.box, attributes: { payload: code.payload } });
      const m = this.qrMarginPx + 0.1 * Math.max(code.box.width, code.box.height);
      exclude.push({ x: code.box.x - m, y: code.box.y - m, width: code.box.width + 2 * m, height: code.box.height + 2 * m });
    }
    if (wanted("dark_spot") || wanted("scratch")) {
      for (const d of this.defects.detect(frame, exclude)) {
        if (!wanted(d.className)) continue;
        // float32 as on the wire, so a threshold equal to a reported confidence keeps it.
        out.push({ className: d.className, confidence: Math.fround(d.confidence), bbox: d.box, attributes: { area_px: String(d.area), elongation: d.elongation.toFixed(2) } });
      }
    }
    return out.filter((d) => d.confidence >= p.confidenceThreshold);
  }

  private findQr(frame: GrayFrame): QrResult | undefined {
    const factor = Math.max(1, Math.ceil(Math.max(frame.width, frame.height) / this.qrMaxSide));
    const small = shrinkGray(frame, factor, this.shrunk);
    if (factor > 1) this.shrunk = small.data;
    const code = this.qr.detect(small);
    if (factor === 1) return code;
    if (!code) return this.qrRetryFullResolution ? this.qr.detect(frame) : undefined;
    const b = code.box;
    return { payload: code.payload, box: { x: b.x * factor, y: b.y * factor, width: b.width * factor, height: b.height * factor } };
  }
}
