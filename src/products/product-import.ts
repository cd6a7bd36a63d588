import { DomainError } from "../core/errors.js";
import type { ImportRow } from "./import-parsers.js";
import { InvalidProduct } from "./product-errors.js";
import { checkProduct, type ProductInput } from "./product-fields.js";
import type { ProductService } from "./product-service.js";

export interface ImportReport {
  /** Rows written. */
  imported: number;
  /** Rows refused for their content, by line (the first `MAX_REPORTED_FAILURES`). */
  failed: { line: number; errors: string[] }[];
  /** Every failed row, also those past the listed ones. */
  failed_count: number;
  /** Rows past IFC_PRODUCTS_IMPORT_MAX_ROWS: not read, not written. */
  refused: { count: number; first_line: number | null };
}

export interface ImportOptions {
  /** IFC_PRODUCTS_IMPORT_MAX_ROWS: the rows after it are refused. */
  maxRows: number;
  /** Rows per INSERT statement (and transaction). */
  batchSize?: number;
}

/** The import stopped part-way (the body was cut, too big, or not the format): what was written before. */
export class ImportInterrupted extends Error {
  override name = "ImportInterrupted";
  constructor(
    readonly report: ImportReport,
    override readonly cause: unknown,
  ) {
    super(`import interrupted after ${report.imported} rows: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** A report of 200 000 bad rows would be bigger than the import: the first ones say enough. */
export const MAX_REPORTED_FAILURES = 1000;
export const IMPORT_BATCH_SIZE = 500;

/**
 * Bulk import: each row checked like a REST body, the good ones written `batchSize` at a time
 * (each batch one transaction, so rows already written stay when a later row fails), bad ones
 * reported by line. A row repeating an id of the pending batch flushes it first (the later row wins).
 */
export async function importProducts(service: ProductService, rows: AsyncIterable<ImportRow>, opts: ImportOptions): Promise<ImportReport> {
  const batchSize = opts.batchSize ?? IMPORT_BATCH_SIZE;
  const report: ImportReport = { imported: 0, failed: [], failed_count: 0, refused: { count: 0, first_line: null } };
  let batch: { line: number; input: ProductInput }[] = [];
  let ids = new Set<string>();
  let seen = 0;
  const fail = (line: number, errors: string[]) => {
    report.failed_count++;
    if (report.failed.length < MAX_REPORTED_FAILURES) report.failed.push({ line, errors });
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const pending = batch;
    batch = [];
    ids = new Set();
    await service.upsertMany(pending.map((b) => b.input));
    report.imported += pending.length;
  };
  try {
    await readAll();
  } catch (err) {
    throw new ImportInterrupted(report, err);
  }
  return report;

  async function readAll(): Promise<void> {
  for await (const row of rows) {
    if (++seen > opts.maxRows) {
      report.refused.count++;
      report.refused.first_line ??= row.line;
      continue;
    }
    if ("error" in row) {
      fail(row.line, [row.error]);
      continue;
    }
    let input: ProductInput;
    try {
      input = checkProduct(row.fields, false);
    } catch (err) {
      if (err instanceof InvalidProduct) {
        fail(row.line, err.errors.map((e) => `${e.field} ${e.message}`));
        continue;
      }
      if (err instanceof DomainError) {
        fail(row.line, [err.message]);
        continue;
      }
      throw err;
    }
    if (ids.has(input.product_id)) await flush();
    batch.push({ line: row.line, input });
    ids.add(input.product_id);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  }
}
