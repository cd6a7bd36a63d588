import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProductInfo } from "../../../src/core/product-info.js";
import { UnreadableQrPayload } from "../../../src/products/product-errors.js";
import { MAX_PAYLOAD_LENGTH, qrDecoder, QrFormatConfigError, qrKey } from "../../../src/products/qr-formats.js";

const CUSTOM = "^P(?<work_order_id>[A-Z0-9]+)-(?<machine_number>M\\d+)(?:-(?<production_date>\\d{4}-\\d{2}-\\d{2}))?(?:#(?<monthly_sequence>\\d+))?$";

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a refusal");
}

describe("QR formats", () => {
  it("standard: the IFC1 format in product_info names", () => {
    const read = qrDecoder("standard", "");
    expect(read("IFC1;wo=WO123456;inst=INST789;type=TYPE-ABC;mach=MACH001;date=2026-11-23;seq=42")).toEqual({
      work_order_id: "WO123456", instruction_id: "INST789", product_type: "TYPE-ABC", machine_number: "MACH001", production_date: "2026-11-23", monthly_sequence: 42,
    });
    expect(read("IFC1;wo=W1")).toEqual({ work_order_id: "W1" });
    for (const bad of ["", "IFC1;inst=I", "IFC2;wo=W", "IFC1;wo=W;date=2026-13-45", "PWO1-M1"]) expect(refusal(() => read(bad)), bad).toBeInstanceOf(UnreadableQrPayload);
  });

  it("custom: the pattern's named groups, its values checked (date, sequence)", () => {
    const read = qrDecoder("custom", CUSTOM);
    expect(read("PWO1-M7-2026-01-31#12")).toEqual({ work_order_id: "WO1", machine_number: "M7", production_date: "2026-01-31", monthly_sequence: 12 });
    expect(read("PWO1-M7")).toEqual({ work_order_id: "WO1", machine_number: "M7" });
    expect(refusal(() => read("PWO1-M7-2026-02-30"))).toBeInstanceOf(UnreadableQrPayload);
    expect(refusal(() => read("IFC1;wo=W1"))).toBeInstanceOf(UnreadableQrPayload);
  });

  it("auto: standard first, then custom; without a pattern, standard only", () => {
    const read = qrDecoder("auto", CUSTOM);
    expect(read("IFC1;wo=W1;mach=M2")).toEqual({ work_order_id: "W1", machine_number: "M2" });
    expect(read("PWO9-M3")).toEqual({ work_order_id: "WO9", machine_number: "M3" });
    expect(qrDecoder("auto", "")("IFC1;wo=W1")).toEqual({ work_order_id: "W1" });
    expect(refusal(() => qrDecoder("auto", "")("PWO9-M3"))).toBeInstanceOf(UnreadableQrPayload);
  });

  it("refuses at start a pattern that cannot work, naming the key", () => {
    for (const [format, pattern] of [["custom", ""], ["custom", "(unclosed"], ["auto", "^(?<wo>\\w+)$"], ["custom", "^\\(?<work_order_id>x$"]] as const) {
      const err = refusal(() => qrDecoder(format, pattern));
      expect(err, pattern).toBeInstanceOf(QrFormatConfigError);
      expect((err as Error).message).toContain("IFC_PRODUCT_QR_");
    }
  });

  it("limits a payload to MAX_PAYLOAD_LENGTH characters", () => {
    const read = qrDecoder("custom", "^(?<work_order_id>W+)$");
    expect(read("W".repeat(128))).toEqual({ work_order_id: "W".repeat(128) });
    expect(refusal(() => read("W".repeat(MAX_PAYLOAD_LENGTH + 1)))).toBeInstanceOf(UnreadableQrPayload);
    // A value longer than a product field is not a product code.
    expect(refusal(() => read("W".repeat(129)))).toBeInstanceOf(UnreadableQrPayload);
  });

  it("throws nothing but UnreadableQrPayload, whatever the payload", () => {
    const decoders = [qrDecoder("standard", ""), qrDecoder("custom", CUSTOM), qrDecoder("auto", CUSTOM)];
    const payload = fc.oneof(
      fc.string({ maxLength: 1100 }),
      fc.string().map((s) => `IFC1;${s}`),
      fc.record({ wo: fc.string({ minLength: 1, maxLength: 70 }), seq: fc.string(), date: fc.string() }).map((r) => `IFC1;wo=${r.wo};seq=${r.seq};date=${r.date}`),
      fc.string().map((s) => `P${s}-M1`),
    );
    fc.assert(
      fc.property(payload, (p) => {
        for (const read of decoders) {
          try {
            const f = read(p);
            expect(typeof f.work_order_id).toBe("string");
            expect(f.work_order_id.length).toBeGreaterThan(0);
          } catch (err) {
            expect(err).toBeInstanceOf(UnreadableQrPayload);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("keys a code by the fields a lookup matches: the same product code in either format gives one key", () => {
    const a = qrDecoder("standard", "")(formatProductInfo({ work_order: "WO1", machine_number: "M7", product_type: "T", monthly_sequence: "12" }));
    const b = qrDecoder("custom", CUSTOM)("PWO1-M7#12");
    expect(qrKey(a)).toBe(qrKey(b));
    expect(qrKey({ work_order_id: "a|b" })).not.toBe(qrKey({ work_order_id: "a", instruction_id: "b" }));
  });
});
