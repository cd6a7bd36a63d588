import { describe, expect, it } from "vitest";
import { formatProductInfo, parseProductInfo, productTags } from "../../../src/extractor/product-info.js";

describe("product information QR payload", () => {
  it("parses every field and round-trips", () => {
    const payload = "IFC1;wo=WO123456;inst=INST789;type=TYPE-ABC;mach=MACH001;date=2026-11-23;seq=42";
    const info = parseProductInfo(payload);
    expect(info).toEqual({
      work_order: "WO123456",
      instruction: "INST789",
      product_type: "TYPE-ABC",
      machine_number: "MACH001",
      production_date: "2026-11-23",
      monthly_sequence: "42",
    });
    expect(formatProductInfo(info!)).toBe(payload);
    expect(productTags(info!)).toMatchObject({ work_order: "WO123456", monthly_sequence: "42" });
  });

  it("needs the prefix and a work order, ignores unknown keys", () => {
    expect(parseProductInfo("https://example.com/wo=1")).toBeUndefined();
    expect(parseProductInfo("IFC1;inst=INST789")).toBeUndefined();
    expect(parseProductInfo("IFC1;wo=W1;color=red")).toEqual({ work_order: "W1" });
  });

  it("refuses malformed pairs, dates, sequences and over-long values", () => {
    expect(parseProductInfo("IFC1;wo")).toBeUndefined();
    expect(parseProductInfo("IFC1;wo=W1;date=23.11.2026")).toBeUndefined();
    expect(parseProductInfo("IFC1;wo=W1;date=2026-13-45")).toBeUndefined();
    expect(parseProductInfo("IFC1;wo=W1;seq=4a")).toBeUndefined();
    expect(parseProductInfo(`IFC1;wo=${"x".repeat(64)}`)).toEqual({ work_order: "x".repeat(64) });
    expect(parseProductInfo(`IFC1;wo=${"x".repeat(65)}`)).toBeUndefined();
    expect(parseProductInfo("IFC1;wo=has space")).toBeUndefined();
  });
});
