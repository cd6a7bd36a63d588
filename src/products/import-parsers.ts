import { StringDecoder } from "node:string_decoder";
import { InvalidInput } from "../core/errors.js";
import { PRODUCT_COLUMNS } from "./product-fields.js";

/** One row of an import: its fields, or why it could not be read; `line` is where it starts (1-based). */
export type ImportRow = { line: number; fields: Record<string, unknown> } | { line: number; error: string };

/** A row's text longer than this is refused (one product is far smaller), so no row buffers megabytes. */
export const MAX_ROW_CHARS = 256 * 1024;

const SPEC_PREFIX = "spec.";

/**
 * The elements of a JSON array read as its bytes arrive: a tracker of strings and nesting cuts
 * the text at the top-level commas, and each element alone goes through JSON.parse, so a 64 MB
 * body is never one string. A bad element is reported on its line and the rest still read;
 * a body that is not an array is refused before any row (InvalidInput).
 */
export async function* jsonArrayRows(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<ImportRow> {
  const decoder = new StringDecoder("utf8");
  let line = 1;
  let started = false;
  let ended = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let element = "";
  let elementLine = 0;
  let oversized = false;
  const finish = (): ImportRow | undefined => {
    const text = element.trim();
    const at = elementLine;
    element = "";
    elementLine = 0;
    if (oversized || text.length > MAX_ROW_CHARS) {
      oversized = false;
      return { line: at, error: `row is longer than ${MAX_ROW_CHARS} characters` };
    }
    if (text === "") return undefined;
    try {
      const v: unknown = JSON.parse(text);
      if (v === null || typeof v !== "object" || Array.isArray(v)) return { line: at, error: "row must be a JSON object" };
      return { line: at, fields: v as Record<string, unknown> };
    } catch (err) {
      return { line: at, error: `not valid JSON: ${(err as Error).message.slice(0, 200)}` };
    }
  };
  for await (const chunk of chunks) {
    const s = typeof chunk === "string" ? chunk : decoder.write(chunk);
    let from = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c === "\n") line++;
      if (ended) {
        if (!/\s/.test(c)) throw new InvalidInput("invalid-import", `line ${line}: text after the end of the JSON array`);
        continue;
      }
      if (!started) {
        if (/\s/.test(c) || c === "\uFEFF") continue;
        if (c !== "[") throw new InvalidInput("invalid-import", "a JSON import must be an array of products");
        started = true;
        from = i + 1;
        continue;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (depth === 0 && c === "]") {
          element += s.slice(from, i);
          const row = finish();
          if (row) yield row;
          ended = true;
          continue;
        }
        if (depth > 0) depth--;
      } else if (c === "," && depth === 0) {
        element += s.slice(from, i);
        const row = finish() ?? { line, error: "empty element" };
        yield row;
        from = i + 1;
        continue;
      }
      if (elementLine === 0 && !/\s/.test(c)) elementLine = line;
    }
    if (started && !ended) {
      if (!oversized) element += s.slice(from);
      if (element.length > MAX_ROW_CHARS) {
        oversized = true;
        element = "";
      }
    }
  }
  if (!started) throw new InvalidInput("invalid-import", "a JSON import must be an array of products");
  if (!ended) yield { line, error: "the JSON array is not closed (body cut short?)" };
}

/**
 * CSV records (RFC 4180: quoted fields, "" inside quotes, line breaks inside quotes) read as the
 * bytes arrive. The first record is the header: the product field names, and `spec.<key>`
 * columns for specifications; an unknown column refuses the import before any row.
 */
export async function* csvRows(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<ImportRow> {
  const decoder = new StringDecoder("utf8");
  let header: string[] | undefined;
  let line = 1;
  let recordLine = 1;
  let field = "";
  let record: string[] = [];
  let inQuotes = false;
  let quoteSeen = false;
  let chars = 0;
  let oversized = false;
  let pendingCR = false;
  const known = new Set<string>(PRODUCT_COLUMNS);
  const endRecord = (): ImportRow | undefined => {
    record.push(field);
    const values = record;
    const at = recordLine;
    const big = oversized;
    field = "";
    record = [];
    chars = 0;
    oversized = false;
    quoteSeen = false;
    recordLine = line;
    if (values.length === 1 && values[0] === "" && !big) return undefined; // a blank line
    if (!header) {
      header = values.map((h) => h.trim());
      const bad = header.filter((h) => !known.has(h) && !(h.startsWith(SPEC_PREFIX) && h.length > SPEC_PREFIX.length));
      if (bad.length > 0) throw new InvalidInput("invalid-import", `unknown CSV column(s): ${bad.slice(0, 5).map((b) => b.slice(0, 64)).join(", ")}`, { columns: [...PRODUCT_COLUMNS, "spec.<key>"] });
      if (new Set(header).size !== header.length) throw new InvalidInput("invalid-import", "a CSV column is named twice");
      if (!header.includes("product_id") || !header.includes("work_order_id")) throw new InvalidInput("invalid-import", "the CSV header must name product_id and work_order_id");
      return undefined;
    }
    if (big) return { line: at, error: `row is longer than ${MAX_ROW_CHARS} characters` };
    if (values.length !== header.length) return { line: at, error: `has ${values.length} fields, the header ${header.length}` };
    const fields: Record<string, unknown> = {};
    const specs: Record<string, string> = {};
    header.forEach((h, i) => {
      const v = values[i]!;
      if (h.startsWith(SPEC_PREFIX)) {
        if (v !== "") specs[h.slice(SPEC_PREFIX.length)] = v;
      } else if (v !== "") fields[h] = v;
    });
    if (header.some((h) => h.startsWith(SPEC_PREFIX))) fields.specifications = specs;
    return { line: at, fields };
  };
  const chunkText = async function* () {
    for await (const chunk of chunks) yield typeof chunk === "string" ? chunk : decoder.write(chunk);
    yield decoder.end();
  };
  for await (const s of chunkText()) {
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (pendingCR) {
        pendingCR = false;
        if (c === "\n") continue;
      }
      if (++chars > MAX_ROW_CHARS) {
        oversized = true;
        field = "";
      }
      if (inQuotes) {
        if (c === '"') {
          if (s[i + 1] === '"') {
            if (!oversized) field += '"';
            i++;
          } else if (i + 1 === s.length) {
            // The quote may be the first of a "" pair split across chunks: decide on the next char.
            inQuotes = false;
            quoteSeen = true;
          } else inQuotes = false;
        } else {
          if (c === "\n") line++;
          if (!oversized) field += c;
        }
        continue;
      }
      if (quoteSeen && c === '"') {
        // "" split across two chunks: a literal quote, still inside the field.
        if (!oversized) field += '"';
        inQuotes = true;
        quoteSeen = false;
        continue;
      }
      quoteSeen = false;
      if (c === '"' && field === "") inQuotes = true;
      else if (c === ",") {
        record.push(field);
        field = "";
      } else if (c === "\n" || c === "\r") {
        line++;
        if (c === "\r") pendingCR = true;
        const row = endRecord();
        if (row) yield row;
      } else if (!oversized) field += c;
    }
  }
  if (field !== "" || record.length > 0) {
    const row = endRecord();
    if (row) yield row;
  }
  if (!header) throw new InvalidInput("invalid-import", "the CSV has no header row");
}
