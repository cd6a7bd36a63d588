import type { Detection } from "../generated/imageflow/v1/common.js";
import { parseProductInfo, type ProductInfo } from "./product-info.js";

export interface ProductSighting {
  product: ProductInfo;
  /** A payload other than the last one seen: a new work piece, to be tagged once. */
  isNew: boolean;
}

/**
 * The work piece a stream's QR results show. The same code in view for minutes is one work
 * piece: only a change of payload is new.
 */
export class ProductTracker {
  private lastPayload: string | undefined;
  private lastProduct: ProductInfo | undefined;

  /** The product of the first QR detection whose payload is product information, if any. */
  observe(detections: readonly Detection[]): ProductSighting | undefined {
    for (const d of detections) {
      const payload = d.className === "qr_code" ? d.attributes.payload : undefined;
      if (payload === undefined) continue;
      const product = parseProductInfo(payload);
      if (!product) continue;
      const isNew = payload !== this.lastPayload;
      if (isNew) {
        this.lastPayload = payload;
        this.lastProduct = product;
      }
      return { product, isNew };
    }
    return undefined;
  }

  /** The product of the last new payload. */
  get last(): ProductInfo | undefined {
    return this.lastProduct;
  }
}
