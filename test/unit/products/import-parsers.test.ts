import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { csvRows, jsonArrayRows, MAX_ROW_CHARS, type ImportRow } from "../../../src/products/import-parsers.js";

async function collect(gen: AsyncIterable<ImportRow>): Promise<ImportRow[]> {
  const out: ImportRow[] = [];
  for await (const r of gen) out.push(r);
  return out;
}

/** `text` as byte chunks cut at the given offsets (which may split a UTF-8 character). */
async function* chunked(text: string, cuts: number[]): AsyncGenerator<Buffer> {
  const buf = Buffer.from(text, "utf8");
  let from = 0;
  for (const c of [...new Set(cuts.map((x) => x % (buf.length + 1)))].sort((a, b) => a - b)) {
    yield buf.subarray(from, c);
    from = c;
  }
  yield buf.subarray(from);
}

const refusal = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as Error);

describe("import parsers", () => {
  const JSON_BODY = `[
  {"product_id": "a", "work_order_id": "W,1", "specifications": {"note": "x]}{\\"y"}},
  {"product_id": "b",
   "work_order_id": "日本語"},
  {"product_id": "c", broken},
  42
]
`;
  it("reads a JSON array element by element, each bad one reported on its line", async () => {
    const rows = await collect(jsonArrayRows(chunked(JSON_BODY, [])));
    expect(rows).toEqual([
      { line: 2, fields: { product_id: "a", work_order_id: "W,1", specifications: { note: 'x]}{"y' } } },
      { line: 3, fields: { product_id: "b", work_order_id: "日本語" } },
      { line: 5, error: expect.stringContaining("not valid JSON") },
      { line: 6, error: "row must be a JSON object" },
    ]);
    expect(await collect(jsonArrayRows(chunked("[]", [])))).toEqual([]);
    expect((await refusal(collect(jsonArrayRows(chunked('{"a":1}', []))))) as Error).toMatchObject({ slug: "invalid-import" });
    expect((await refusal(collect(jsonArrayRows(chunked("", []))))) as Error).toMatchObject({ slug: "invalid-import" });
    expect(await collect(jsonArrayRows(chunked('[{"a":1},', [])))).toEqual([{ line: 1, fields: { a: 1 } }, { line: 1, error: expect.stringContaining("not closed") }]);
  });

  it("gives the same rows however the bytes are cut (JSON and CSV)", async () => {
    const CSV = 'product_id,work_order_id,spec.note\r\na,"W,""1""",x\n\nb,"multi\nline",\n';
    const json = await collect(jsonArrayRows(chunked(JSON_BODY, [])));
    const csv = await collect(csvRows(chunked(CSV, [])));
    expect(csv).toEqual([
      { line: 2, fields: { product_id: "a", work_order_id: 'W,"1"', specifications: { note: "x" } } },
      { line: 4, fields: { product_id: "b", work_order_id: "multi\nline", specifications: {} } },
    ]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 12 }), async (cuts) => {
        expect(await collect(jsonArrayRows(chunked(JSON_BODY, cuts)))).toEqual(json);
        expect(await collect(csvRows(chunked(CSV, cuts)))).toEqual(csv);
      }),
      { numRuns: 300 },
    );
  });

  it("CSV: refuses an unknown column or a missing key column before any row; a row of the wrong width is reported", async () => {
    expect((await refusal(collect(csvRows(chunked("product_id,work_order_id,colour\n", []))))) as Error).toMatchObject({ slug: "invalid-import" });
    expect((await refusal(collect(csvRows(chunked("product_id,model\n", []))))) as Error).toMatchObject({ slug: "invalid-import" });
    expect((await refusal(collect(csvRows(chunked("", []))))) as Error).toMatchObject({ slug: "invalid-import" });
    expect(await collect(csvRows(chunked("product_id,work_order_id\na\nb,W", [])))).toEqual([
      { line: 2, error: "has 1 fields, the header 2" },
      { line: 3, fields: { product_id: "b", work_order_id: "W" } },
    ]);
  });

  it("refuses a row longer than MAX_ROW_CHARS without buffering it, and reads on", async () => {
    const big = "x".repeat(MAX_ROW_CHARS + 10);
    const json = await collect(jsonArrayRows(chunked(`[{"a":"${big}"},\n{"b":1}]`, [1000, 200_000])));
    expect(json).toEqual([{ line: 1, error: expect.stringContaining("longer than") }, { line: 2, fields: { b: 1 } }]);
    const csv = await collect(csvRows(chunked(`product_id,work_order_id\n${big},W\nb,W\n`, [1000, 200_000])));
    expect(csv).toEqual([{ line: 2, error: expect.stringContaining("longer than") }, { line: 3, fields: { product_id: "b", work_order_id: "W" } }]);
  });
});
