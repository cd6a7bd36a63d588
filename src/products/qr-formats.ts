import { parseProductInfo } from "../core/product-info.js";
import { UnreadableQrPayload } from "./product-errors.js";
import { isValidDate } from "./product-fields.js";
import type { QrFields } from "./product-store.js";

/** The design documents' "standard / custom / auto-detect" (IFC_PRODUCT_QR_FORMAT). */
export type QrFormat = "standard" | "custom" | "auto";

/** A QR settings error found at start: the server refuses to run with it, naming the key. */
export class QrFormatConfigError extends Error {
  override name = "QrFormatConfigError";
}

export type QrDecoder = (payload: string) => QrFields;

/** Longer payloads are not product codes (a QR code holds at most ~3 KB, ours far less). */
export const MAX_PAYLOAD_LENGTH = 1024;
const MAX_VALUE_LENGTH = 128;
const GROUPS = ["work_order_id", "instruction_id", "product_type", "machine_number", "production_date", "monthly_sequence"] as const;

/** The project's `IFC1;wo=…` format (core/product-info.ts), in product_info names. */
function standard(payload: string): QrFields | undefined {
  const info = parseProductInfo(payload);
  if (!info) return undefined;
  return {
    work_order_id: info.work_order,
    ...(info.instruction !== undefined ? { instruction_id: info.instruction } : {}),
    ...(info.product_type !== undefined ? { product_type: info.product_type } : {}),
    ...(info.machine_number !== undefined ? { machine_number: info.machine_number } : {}),
    ...(info.production_date !== undefined ? { production_date: info.production_date } : {}),
    ...(info.monthly_sequence !== undefined ? { monthly_sequence: Number(info.monthly_sequence) } : {}),
  };
}

/** A site's own format: the named groups of IFC_PRODUCT_QR_CUSTOM_PATTERN. */
function custom(re: RegExp, payload: string): QrFields | undefined {
  const groups = re.exec(payload)?.groups;
  const wo = groups?.work_order_id;
  if (!groups || !wo || wo.length > MAX_VALUE_LENGTH) return undefined;
  const out: QrFields = { work_order_id: wo };
  for (const g of GROUPS.slice(1)) {
    const v = groups[g];
    if (v === undefined || v === "") continue;
    if (v.length > MAX_VALUE_LENGTH) return undefined;
    if (g === "production_date") {
      if (!isValidDate(v)) return undefined;
      out.production_date = v;
    } else if (g === "monthly_sequence") {
      if (!/^\d{1,9}$/.test(v)) return undefined;
      out.monthly_sequence = Number(v);
    } else out[g] = v;
  }
  return out;
}

/** Compiles IFC_PRODUCT_QR_CUSTOM_PATTERN, or throws QrFormatConfigError naming the key. */
function compile(pattern: string): RegExp {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    throw new QrFormatConfigError(`IFC_PRODUCT_QR_CUSTOM_PATTERN is not a valid regular expression: ${(err as Error).message}`);
  }
  // With an empty alternative the pattern always matches, and `groups` then lists every named group.
  const names = new RegExp(`(?:${pattern})|`).exec("")?.groups ?? {};
  if (!("work_order_id" in names)) throw new QrFormatConfigError("IFC_PRODUCT_QR_CUSTOM_PATTERN must have a named group (?<work_order_id>…)");
  return re;
}

/**
 * The decoder of IFC_PRODUCT_QR_FORMAT, built once at start: `standard` reads `IFC1;`, `custom`
 * the configured pattern, `auto` the standard format first and then the custom one (when one is
 * configured). Throws QrFormatConfigError for a pattern that cannot work, so a typo stops the
 * start instead of failing every lookup. The decoder throws only UnreadableQrPayload.
 */
export function qrDecoder(format: QrFormat, customPattern: string): QrDecoder {
  if (format === "custom" && customPattern === "") throw new QrFormatConfigError("IFC_PRODUCT_QR_FORMAT=custom needs IFC_PRODUCT_QR_CUSTOM_PATTERN");
  const re = customPattern === "" ? undefined : compile(customPattern);
  const readers: ((p: string) => QrFields | undefined)[] = [];
  if (format !== "custom") readers.push(standard);
  if (format !== "standard" && re) readers.push((p) => custom(re, p));
  return (payload) => {
    if (typeof payload !== "string" || payload.length === 0) throw new UnreadableQrPayload("empty");
    if (payload.length > MAX_PAYLOAD_LENGTH) throw new UnreadableQrPayload(`longer than ${MAX_PAYLOAD_LENGTH} characters`);
    for (const read of readers) {
      const fields = read(payload);
      if (fields) return fields;
    }
    throw new UnreadableQrPayload(format === "auto" ? (re ? "neither the IFC1 format nor the custom pattern" : "not the IFC1 format") : `not the ${format} format`);
  };
}

/**
 * A stable text for the fields a code carries (the QR cache's key): the same product code
 * always gives the same key, whatever format it came in.
 */
export function qrKey(f: QrFields): string {
  return [f.work_order_id, f.instruction_id ?? "", f.machine_number ?? "", f.monthly_sequence ?? ""].map((v) => encodeURIComponent(String(v))).join("|");
}
