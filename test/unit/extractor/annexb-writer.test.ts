import { describe, expect, it } from "vitest";
import { splitAnnexB, nalType } from "../../../src/media/h264-nal.js";
import { accessUnitToAnnexB } from "../../../src/extractor/annexb-writer.js";

const sps = new Uint8Array([0x67, 0x42, 0xc0, 0x1e, 0xaa]);
const pps = new Uint8Array([0x68, 0xce, 0x3c, 0x80]);
const idr = new Uint8Array([0x65, 0x88, 0x84, 0x00, 0x10]);
const p = new Uint8Array([0x41, 0x9a, 0x02]);
const aud = new Uint8Array([0x09, 0xf0]);

describe("accessUnitToAnnexB", () => {
  it("puts SPS and PPS before an IDR that lacks them, and ends with an AUD", () => {
    const out = accessUnitToAnnexB({ nalus: [idr], isKeyframe: true, sps, pps });
    expect(out.subarray(0, 4)).toEqual(Buffer.from([0, 0, 0, 1]));
    const nalus = splitAnnexB(out);
    expect(nalus.map(nalType)).toEqual([7, 8, 5, 9]);
    expect(Buffer.from(nalus[0]!)).toEqual(Buffer.from(sps));
    expect(Buffer.from(nalus[2]!)).toEqual(Buffer.from(idr));
    expect([...out.subarray(-6)]).toEqual([0, 0, 0, 1, 9, 0xf0]);
  });

  it("does not repeat parameter sets the unit carries, nor add them to a non-IDR unit", () => {
    expect(splitAnnexB(accessUnitToAnnexB({ nalus: [sps, pps, idr], isKeyframe: true, sps, pps })).map(nalType)).toEqual([7, 8, 5, 9]);
    expect(splitAnnexB(accessUnitToAnnexB({ nalus: [p], isKeyframe: false, sps, pps })).map(nalType)).toEqual([1, 9]);
  });

  it("drops the unit's own leading AUD (the trailing one delimits it) and empty NAL units", () => {
    expect(splitAnnexB(accessUnitToAnnexB({ nalus: [aud, new Uint8Array(0), p], isKeyframe: false })).map(nalType)).toEqual([1, 9]);
  });
});
