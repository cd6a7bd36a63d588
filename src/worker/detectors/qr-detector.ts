import jsQRModule from "jsqr";

// jsqr is CommonJS with a typed default export: under NodeNext the function is `.default`.
const jsQR = jsQRModule.default;
import type { Box, GrayFrame } from "./gray-frame.js";

export interface QrResult {
  payload: string;
  box: Box;
}

/**
 * Finds and decodes one QR code with jsQR. jsQR reads RGBA, so the gray frame is widened once
 * per call into a buffer kept between calls (one allocation per frame size, not per frame).
 */
export class QrDetector {
  private rgba = new Uint8ClampedArray(0);

  detect(frame: GrayFrame): QrResult | undefined {
    const n = frame.width * frame.height;
    if (this.rgba.length !== n * 4) this.rgba = new Uint8ClampedArray(n * 4);
    const rgba = this.rgba;
    const gray = frame.data;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const v = gray[i] as number;
      rgba[j] = v;
      rgba[j + 1] = v;
      rgba[j + 2] = v;
      rgba[j + 3] = 255;
    }
    const code = jsQR(rgba, frame.width, frame.height, { inversionAttempts: "dontInvert" });
    if (!code) return undefined;
    const { topLeftCorner: a, topRightCorner: b, bottomLeftCorner: c, bottomRightCorner: d } = code.location;
    const xs = [a.x, b.x, c.x, d.x];
    const ys = [a.y, b.y, c.y, d.y];
    const x = Math.min(...xs);
    const y = Math.min(...ys);
    return { payload: code.data, box: { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y } };
  }
}
