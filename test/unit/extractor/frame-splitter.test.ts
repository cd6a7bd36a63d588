import { describe, expect, it } from "vitest";
import { JpegFrameSplitter, RawFrameSplitter } from "../../../src/extractor/frame-splitter.js";

function feed(s: { push(c: Buffer, f: (b: Buffer) => void): void }, data: Buffer, chunkSizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  let k = 0;
  while (o < data.length) {
    const n = chunkSizes[k++ % chunkSizes.length] as number;
    s.push(data.subarray(o, o + n), (f) => out.push(f));
    o += n;
  }
  return out;
}

describe("RawFrameSplitter", () => {
  it("cuts fixed-size frames whatever the chunking, each frame its own buffer", () => {
    const data = Buffer.from(Array.from({ length: 60 }, (_, i) => i));
    const s = new RawFrameSplitter(12);
    const frames = feed(s, data, [5, 1, 17, 64]);
    expect(frames.length).toBe(5);
    frames.forEach((f, i) => expect([...f]).toEqual([...data.subarray(i * 12, i * 12 + 12)]));
    frames[0]!.fill(0xee); // frames do not alias one another
    expect([...frames[1]!]).toEqual([...data.subarray(12, 24)]);
    s.push(Buffer.alloc(3), () => undefined);
    expect(s.pending).toBe(3);
  });
});

describe("JpegFrameSplitter", () => {
  const jpeg = (n: number): Buffer => Buffer.from([0xff, 0xd8, 0xff, 0xe0, n, 0xff, 0x00, n, 0xff, 0xd0, 0xff, 0xd9]);
  it("cuts images at EOI, including a marker split across chunks", () => {
    const data = Buffer.concat([jpeg(1), jpeg(2), jpeg(3), jpeg(4)]);
    for (const sizes of [[1], [11], [5, 7], [100]]) {
      const frames = feed(new JpegFrameSplitter(), data, sizes);
      expect(frames.map((f) => f.toString("hex"))).toEqual([1, 2, 3, 4].map((n) => jpeg(n).toString("hex")));
    }
  });

  it("skips garbage before an image and bounds what it holds", () => {
    const s = new JpegFrameSplitter(16);
    const out: Buffer[] = [];
    s.push(Buffer.from([1, 2, 3]), (f) => out.push(f));
    expect(s.pending).toBe(0);
    s.push(Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(20, 7)]), (f) => out.push(f));
    expect(s.pending).toBe(0); // over the bound: dropped
    s.push(jpeg(9), (f) => out.push(f));
    expect(out.map((f) => f.toString("hex"))).toEqual([jpeg(9).toString("hex")]);
  });
});
