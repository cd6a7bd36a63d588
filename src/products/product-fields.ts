import { InvalidProduct, type FieldProblem } from "./product-errors.js";

/**
 * A product as the design documents' `product_info` names it (指図番号 work_order_id, 指示番号
 * instruction_id, 型式 product_type, 機番 machine_number, 生産年月日 production_date, 月連番
 * monthly_sequence), with its master data and key/value specifications.
 */
export interface Product {
  product_id: string;
  work_order_id: string;
  instruction_id: string | null;
  product_type: string | null;
  machine_number: string | null;
  /** YYYY-MM-DD */
  production_date: string | null;
  monthly_sequence: number | null;
  model: string | null;
  version: string | null;
  batch: string | null;
  status: string;
  revision: number;
  /** ISO 8601 */
  created_at: string;
  updated_at: string;
  specifications: Record<string, string>;
}

/** The fields a writer sets (an upsert: absent optional fields become null; status defaults to `active`). */
export interface ProductInput {
  product_id: string;
  work_order_id: string;
  instruction_id?: string | null;
  product_type?: string | null;
  machine_number?: string | null;
  production_date?: string | null;
  monthly_sequence?: number | null;
  model?: string | null;
  version?: string | null;
  batch?: string | null;
  status?: string;
  /** Replaces the product's specifications when given. */
  specifications?: Record<string, string>;
}

/** A partial update: only the fields present change. */
export type ProductPatch = Partial<Omit<ProductInput, "product_id">>;

export const OPTIONAL_TEXT = ["instruction_id", "product_type", "machine_number", "model", "version", "batch"] as const;
/** Every column a product row carries, in the order CSV imports and inserts use. */
export const PRODUCT_COLUMNS = ["product_id", "work_order_id", ...OPTIONAL_TEXT, "production_date", "monthly_sequence", "status"] as const;

export const LIMITS = {
  idLength: 128,
  textLength: 128,
  statusLength: 32,
  specKeys: 100,
  specKeyLength: 64,
  specValueLength: 1024,
  /** Fits INTEGER. */
  maxSequence: 999_999_999,
} as const;

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const STATUS = /^[a-z][a-z0-9_]{0,31}$/;

export function isValidDate(v: string): boolean {
  if (!DATE.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

const hasControl = (v: string): boolean => {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
};

function text(errors: FieldProblem[], field: string, v: unknown, max: number, required: boolean): string | null | undefined {
  if (v === undefined || v === null || v === "") {
    if (required) errors.push({ field, message: "is required" });
    return v === undefined ? undefined : null;
  }
  if (typeof v !== "string") {
    errors.push({ field, message: "must be a string" });
    return undefined;
  }
  if (v.length > max) errors.push({ field, message: `must be at most ${max} characters` });
  // Control characters would corrupt CSV exports and logs.
  else if (hasControl(v)) errors.push({ field, message: "must not hold control characters" });
  return v;
}

/**
 * Checks a product's fields (a REST body, an import row) and returns it normalised, or throws
 * InvalidProduct listing every failing field. `partial`: an update, where nothing is required.
 */
export function checkProduct(raw: Record<string, unknown>, partial: false): ProductInput;
export function checkProduct(raw: Record<string, unknown>, partial: true): ProductPatch;
export function checkProduct(raw: Record<string, unknown>, partial: boolean): ProductInput | ProductPatch {
  const errors: FieldProblem[] = [];
  const out: Record<string, unknown> = {};
  const known = new Set<string>([...PRODUCT_COLUMNS, "specifications"]);
  for (const k of Object.keys(raw)) if (!known.has(k)) errors.push({ field: k.slice(0, 64), message: "is not a known field" });
  if (!partial) {
    const id = raw.product_id;
    if (typeof id !== "string" || !ID.test(id)) errors.push({ field: "product_id", message: "must be 1–128 of A–Z a–z 0–9 _ . : -" });
    else out.product_id = id;
  }
  const wo = text(errors, "work_order_id", raw.work_order_id, LIMITS.textLength, !partial);
  if (wo === null && partial) errors.push({ field: "work_order_id", message: "cannot be emptied" });
  else if (wo !== undefined) out.work_order_id = wo;
  for (const f of OPTIONAL_TEXT) {
    const v = text(errors, f, raw[f], LIMITS.textLength, false);
    if (v !== undefined) out[f] = v;
  }
  const date = raw.production_date;
  if (date === null || date === "") out.production_date = null;
  else if (date !== undefined) {
    if (typeof date !== "string" || !isValidDate(date)) errors.push({ field: "production_date", message: "must be a date YYYY-MM-DD" });
    else out.production_date = date;
  }
  const seq = raw.monthly_sequence;
  if (seq === null || seq === "") out.monthly_sequence = null;
  else if (seq !== undefined) {
    const n = typeof seq === "string" && /^\d{1,9}$/.test(seq) ? Number(seq) : seq;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > LIMITS.maxSequence) errors.push({ field: "monthly_sequence", message: `must be an integer 0–${LIMITS.maxSequence}` });
    else out.monthly_sequence = n;
  }
  const status = raw.status;
  if (status !== undefined && status !== "") {
    if (typeof status !== "string" || !STATUS.test(status)) errors.push({ field: "status", message: "must be 1–32 of a–z 0–9 _, starting with a letter" });
    else out.status = status;
  }
  const specs = raw.specifications;
  if (specs !== undefined) {
    if (specs === null || typeof specs !== "object" || Array.isArray(specs)) errors.push({ field: "specifications", message: "must be an object of key: value" });
    else {
      const entries = Object.entries(specs as Record<string, unknown>);
      if (entries.length > LIMITS.specKeys) errors.push({ field: "specifications", message: `must have at most ${LIMITS.specKeys} keys` });
      const clean: Record<string, string> = {};
      for (const [k, v] of entries.slice(0, LIMITS.specKeys)) {
        const field = `specifications.${k.slice(0, 64)}`;
        if (k.length === 0 || k.length > LIMITS.specKeyLength) errors.push({ field, message: `key must be 1–${LIMITS.specKeyLength} characters` });
        else if (typeof v === "number" || typeof v === "boolean") clean[k] = String(v);
        else if (typeof v !== "string") errors.push({ field, message: "must be a string or a number" });
        else if (v.length > LIMITS.specValueLength) errors.push({ field, message: `must be at most ${LIMITS.specValueLength} characters` });
        else clean[k] = v;
      }
      out.specifications = clean;
    }
  }
  if (errors.length > 0) throw new InvalidProduct(errors);
  return out as ProductInput | ProductPatch;
}
