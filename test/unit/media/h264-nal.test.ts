import { describe, expect, it } from "vitest";
import { NAL_TYPE, nalType, splitAnnexB, toAnnexB, toAvcc } from "../../../src/media/h264-nal.js";

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const hexes = (list: Uint8Array[]): string[] => list.map((n) => Buffer.from(n).toString("hex"));

describe("h264-nal", () => {
  it("reads the NAL type from the header byte", () => {
    expect(nalType(bytes(0x67, 0x42))).toBe(NAL_TYPE.SPS);
    expect(nalType(bytes(0x65))).toBe(NAL_TYPE.IDR);
    expect(nalType(bytes(0x7c, 0x85))).toBe(NAL_TYPE.FU_A);
    expect(nalType(new Uint8Array())).toBe(0);
  });

  it("splits Annex-B with 3- and 4-byte start codes, dropping trailing zeros and leading garbage", () => {
    const stream = bytes(
      0xff, 0x00, // junk before the first start code
      0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f,
      0, 0, 1, 0x68, 0xce,
      0, 0, 0, 0, 1, 0x65, 0x88, 0x00, 0x00, 0x03, 0x01, // trailing_zero_8bits before a 4-byte code
      0, 0, 1, 0x41, 0x9a, 0x00, 0x00, // trailing zeros at the end of the stream
    );
    expect(hexes(splitAnnexB(stream))).toEqual(["6742001f", "68ce", "65880000" + "0301", "419a"]);
    expect(splitAnnexB(bytes(1, 2, 3))).toEqual([]);
    expect(splitAnnexB(new Uint8Array())).toEqual([]);
  });

  it("returns views of the input, not copies", () => {
    const stream = bytes(0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88);
    const [aud, idr] = splitAnnexB(stream);
    expect(aud?.buffer).toBe(stream.buffer);
    expect(idr?.byteOffset).toBe(8);
  });

  it("round-trips through toAnnexB and frames AVCC with 4-byte lengths", () => {
    const nalus = [bytes(0x67, 0x42, 0xc0, 0x1e), bytes(0x68, 0xce), bytes(0x65, ...new Array<number>(300).fill(7))];
    const annexB = toAnnexB(nalus);
    expect(annexB.length).toBe(4 * 3 + 4 + 2 + 301);
    expect(hexes(splitAnnexB(annexB))).toEqual(hexes(nalus));
    const avcc = toAvcc(nalus);
    expect(avcc.readUInt32BE(0)).toBe(4);
    expect(avcc.readUInt32BE(8)).toBe(2);
    expect(avcc.readUInt32BE(14)).toBe(301);
    expect(avcc.subarray(18).equals(Buffer.from(nalus[2] as Uint8Array))).toBe(true);
    expect(toAvcc([]).length).toBe(0);
  });
});
