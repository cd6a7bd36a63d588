/**
 * The product information a QR code on the work piece carries (design documents: work order,
 * instruction, product type, machine number, production date, monthly sequence). Format:
 *
 *   IFC1;wo=WO123456;inst=INST789;type=TYPE-ABC;mach=MACH001;date=2026-11-23;seq=42
 *
 * A versioned prefix, then `key=value` pairs separated by `;`. Short keys keep the code small,
 * and a small code still decodes from a 720p frame at a distance. `wo` is required; the other
 * fields are optional; unknown keys are ignored (newer printers, older servers).
 */
export interface ProductInfo {
  work_order: string;
  instruction?: string;
  product_type?: string;
  machine_number?: string;
  /** YYYY-MM-DD */
  production_date?: string;
  monthly_sequence?: string;
}

const PREFIX = "IFC1;";
const FIELDS: Record<string, keyof ProductInfo> = {
  wo: "work_order",
  inst: "instruction",
  type: "product_type",
  mach: "machine_number",
  date: "production_date",
  seq: "monthly_sequence",
};
const VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]{1,64}$/; // printable ASCII without ';' '=' or space
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const SEQUENCE = /^\d{1,9}$/;

/** The product information in a QR payload, or undefined when the payload is not one. */
export function parseProductInfo(payload: string): ProductInfo | undefined {
  if (!payload.startsWith(PREFIX) || payload.length > 1024) return undefined;
  const out: Partial<ProductInfo> = {};
  for (const pair of payload.slice(PREFIX.length).split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) return undefined;
    const field = FIELDS[pair.slice(0, eq)];
    const value = pair.slice(eq + 1);
    if (!field) continue;
    if (!VALUE.test(value)) return undefined;
    if (field === "production_date" && (!DATE.test(value) || Number.isNaN(Date.parse(value)))) return undefined;
    if (field === "monthly_sequence" && !SEQUENCE.test(value)) return undefined;
    out[field] = value;
  }
  return out.work_order ? (out as ProductInfo) : undefined;
}

/** The inverse, for printers and tests. */
export function formatProductInfo(info: ProductInfo): string {
  const parts = [PREFIX.slice(0, -1)];
  for (const [short, field] of Object.entries(FIELDS)) {
    const v = info[field];
    if (v !== undefined) parts.push(`${short}=${v}`);
  }
  return parts.join(";");
}

/** As recording tags (keys are the long field names). */
export function productTags(info: ProductInfo): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(info)) if (typeof v === "string") tags[k] = v;
  return tags;
}
