import { describe, expect, it } from "vitest";
import { RtpUnwrapper } from "../../../src/media/rtp-unwrap.js";

describe("RtpUnwrapper", () => {
  it("extends 16-bit sequence numbers across wrap-around, both ways", () => {
    const u = new RtpUnwrapper(16);
    expect(u.unwrap(65533)).toBe(65533);
    expect(u.unwrap(65535)).toBe(65535);
    expect(u.unwrap(1)).toBe(65537);
    expect(u.unwrap(65534)).toBe(65534); // late, from before the wrap
    expect(u.unwrap(2)).toBe(65538);
    // Many wraps in steps under half the range.
    let last = 65538;
    for (let i = 0; i < 10; i++) last = u.unwrap((last + 30000) % 65536);
    expect(last).toBe(65538 + 300000);
  });

  it("extends 32-bit timestamps across wrap-around; values before the first come out below it", () => {
    const u = new RtpUnwrapper(32);
    const first = 2 ** 32 - 3000;
    expect(u.unwrap(first)).toBe(first);
    expect(u.unwrap(1500)).toBe(2 ** 32 + 1500);
    expect(u.unwrap(first - 3000)).toBe(first - 3000);
    expect(u.unwrap(4500)).toBe(2 ** 32 + 4500);
    const v = new RtpUnwrapper(32);
    expect(v.unwrap(10)).toBe(10);
    expect(v.unwrap(2 ** 32 - 10)).toBe(-10);
    v.reset();
    expect(v.unwrap(2 ** 32 - 10)).toBe(2 ** 32 - 10);
  });
});
