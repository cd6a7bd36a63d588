// The QR product format lives in core/ so that both extractor/ and products/ may read it
// (design.md: products import core and ports, never extractor).
export { formatProductInfo, parseProductInfo, productTags, type ProductInfo } from "../core/product-info.js";
