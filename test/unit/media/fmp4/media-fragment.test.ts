import { describe, expect, it } from "vitest";
import { readBoxes, type BoxInfo } from "../../../../src/media/fmp4/box-reader.js";
import { patchFragment } from "../../../../src/media/fmp4/fragment-patch.js";
import { readFragment } from "../../../../src/media/fmp4/fragment-reader.js";
import { buildMediaFragment, type FragmentTrack } from "../../../../src/media/fmp4/media-fragment.js";

function kids(buf: Uint8Array, box: BoxInfo): BoxInfo[] {
  return readBoxes(buf, box.offset + box.headerSize, box.offset + box.size);
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The trafs of a fragment with their tfhd, tfdt and trun boxes. */
function trafs(buf: Uint8Array): { tfhd: BoxInfo; tfdt: BoxInfo; trun: BoxInfo }[] {
  const moof = readBoxes(buf)[0] as BoxInfo;
  return kids(buf, moof)
    .filter((b) => b.type === "traf")
    .map((traf) => {
      const [tfhd, tfdt, trun] = kids(buf, traf);
      expect([tfhd?.type, tfdt?.type, trun?.type]).toEqual(["tfhd", "tfdt", "trun"]);
      return { tfhd: tfhd as BoxInfo, tfdt: tfdt as BoxInfo, trun: trun as BoxInfo };
    });
}

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

const VIDEO: FragmentTrack = {
  trackId: 1,
  baseMediaDecodeTime: 90_000,
  samples: [
    { data: [Uint8Array.of(0, 0, 0, 3), bytes(3, 0xa1)], duration: 3000, isSync: false },
    { data: bytes(10, 0xa2), duration: 3000, isSync: true },
    { data: [bytes(2, 0xa3), bytes(0, 0), bytes(5, 0xa4)], duration: 3001, isSync: false },
  ],
};
const AUDIO: FragmentTrack = {
  trackId: 2,
  baseMediaDecodeTime: 48_000,
  samples: [
    { data: bytes(7, 0xb1), duration: 960, isSync: true },
    { data: bytes(9, 0xb2), duration: 960, isSync: true },
  ],
};

describe("buildMediaFragment", () => {
  it("writes moof + mdat: mfhd, then per track tfhd/tfdt/trun, samples track after track", () => {
    const buf = buildMediaFragment({ sequenceNumber: 7, tracks: [VIDEO, AUDIO] });
    const top = readBoxes(buf);
    expect(top.map((b) => b.type)).toEqual(["moof", "mdat"]);
    expect((top[0] as BoxInfo).size + (top[1] as BoxInfo).size).toBe(buf.length);
    const moof = top[0] as BoxInfo;
    expect(kids(buf, moof).map((b) => b.type)).toEqual(["mfhd", "traf", "traf"]);
    const v = view(buf);
    expect(v.getUint32(moof.offset + 8 + 8 + 4)).toBe(7);

    const mdat = top[1] as BoxInfo;
    const expectedMdat = Buffer.concat([Uint8Array.of(0, 0, 0, 3), bytes(3, 0xa1), bytes(10, 0xa2), bytes(2, 0xa3), bytes(5, 0xa4), bytes(7, 0xb1), bytes(9, 0xb2)]);
    expect(Buffer.from(buf.subarray(mdat.offset + 8, mdat.offset + mdat.size)).equals(expectedMdat)).toBe(true);

    const [tv, ta] = trafs(buf);
    if (!tv || !ta) throw new Error("two trafs expected");
    // tfhd: default-base-is-moof, no sample description index unless given.
    expect([v.getUint32(tv.tfhd.offset + 8), v.getUint32(tv.tfhd.offset + 12), tv.tfhd.size]).toEqual([0x020000, 1, 16]);
    expect([v.getUint32(ta.tfhd.offset + 12)]).toEqual([2]);
    // tfdt version 1, 64-bit time.
    expect([v.getUint32(tv.tfdt.offset + 8), v.getBigUint64(tv.tfdt.offset + 12)]).toEqual([0x01000000, 90_000n]);
    expect(v.getBigUint64(ta.tfdt.offset + 12)).toBe(48_000n);
    // trun: data offset, duration, size, flags; no composition offsets when all are 0.
    const t = tv.trun.offset;
    expect([v.getUint32(t + 8), v.getUint32(t + 12)]).toEqual([0x000701, 3]);
    const dataOffset = v.getUint32(t + 16);
    expect(moof.offset + dataOffset).toBe(mdat.offset + 8);
    const rows = [0, 1, 2].map((i) => [v.getUint32(t + 20 + 12 * i), v.getUint32(t + 24 + 12 * i), v.getUint32(t + 28 + 12 * i)]);
    expect(rows).toEqual([
      [3000, 7, 0x01010000], // non-sync: depends on others, is_non_sync_sample
      [3000, 10, 0x02000000], // sync: depends on no other
      [3001, 7, 0x01010000],
    ]);
    // The audio run's data starts right after the video's 24 bytes.
    expect(moof.offset + v.getUint32(ta.trun.offset + 16)).toBe(mdat.offset + 8 + 24);
    expect(buf[moof.offset + v.getUint32(ta.trun.offset + 16)]).toBe(0xb1);
  });

  it("writes sample_description_index when given and composition offsets when any is non-zero", () => {
    const buf = buildMediaFragment({
      sequenceNumber: 1,
      tracks: [{ ...VIDEO, sampleDescriptionIndex: 2, samples: VIDEO.samples.map((s, i) => ({ ...s, compositionOffset: i === 1 ? 6000 : 0 })) }],
    });
    const v = view(buf);
    const [tv] = trafs(buf);
    if (!tv) throw new Error("one traf expected");
    expect([v.getUint32(tv.tfhd.offset + 8), v.getUint32(tv.tfhd.offset + 16), tv.tfhd.size]).toEqual([0x020002, 2, 20]);
    const t = tv.trun.offset;
    expect(v.getUint32(t + 8)).toBe(0x000f01);
    expect([0, 1, 2].map((i) => v.getUint32(t + 32 + 16 * i))).toEqual([0, 6000, 0]);
    expect(readFragment(buf).tracks[0]).toMatchObject({ sampleDescriptionIndex: 2, sampleCount: 3, firstSampleIsSync: false });
  });

  it("uses trun version 1 (signed offsets) when a composition offset is negative", () => {
    const buf = buildMediaFragment({
      sequenceNumber: 1,
      tracks: [{ ...AUDIO, samples: [{ ...(AUDIO.samples[0] as FragmentTrack["samples"][0]), compositionOffset: -3000 }] }],
    });
    const [ta] = trafs(buf);
    if (!ta) throw new Error("one traf expected");
    const v = view(buf);
    expect(v.getUint32(ta.trun.offset + 8)).toBe(0x01000f01);
    expect(v.getInt32(ta.trun.offset + 32)).toBe(-3000);
  });

  it("keeps decode times exact up to 2^53", () => {
    for (const t of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const buf = buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...AUDIO, baseMediaDecodeTime: t }] });
      expect(readFragment(buf).tracks[0]?.baseMediaDecodeTime).toBe(t);
      const [ta] = trafs(buf);
      expect(view(buf).getBigUint64((ta as { tfdt: BoxInfo }).tfdt.offset + 12)).toBe(BigInt(t));
    }
  });

  it("leaves out tracks without samples and refuses an empty fragment or bad values", () => {
    const buf = buildMediaFragment({ sequenceNumber: 3, tracks: [{ ...VIDEO, samples: [] }, AUDIO] });
    expect(readFragment(buf).tracks.map((t) => t.trackId)).toEqual([2]);
    expect(() => buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...VIDEO, samples: [] }] })).toThrow(/at least one sample/);
    expect(() => buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...AUDIO, baseMediaDecodeTime: -1 }] })).toThrow(RangeError);
    expect(() => buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...AUDIO, baseMediaDecodeTime: 2 ** 53 }] })).toThrow(RangeError);
    expect(() => buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...AUDIO, sampleDescriptionIndex: 0 }] })).toThrow(/from 1/);
    expect(() => buildMediaFragment({ sequenceNumber: 2 ** 32, tracks: [AUDIO] })).toThrow(RangeError);
    expect(() =>
      buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...AUDIO, samples: [{ data: bytes(1, 0), duration: 1.5, isSync: true }] }] }),
    ).toThrow(/duration/);
  });
});

describe("readFragment", () => {
  it("reads sequence number and, per track, decode time, count, duration, data size, first-sample sync", () => {
    const info = readFragment(buildMediaFragment({ sequenceNumber: 42, tracks: [VIDEO, AUDIO] }));
    expect(info).toEqual({
      sequenceNumber: 42,
      tracks: [
        { trackId: 1, baseMediaDecodeTime: 90_000, sampleDescriptionIndex: undefined, sampleCount: 3, duration: 9001, dataSize: 24, firstSampleIsSync: false },
        { trackId: 2, baseMediaDecodeTime: 48_000, sampleDescriptionIndex: undefined, sampleCount: 2, duration: 1920, dataSize: 16, firstSampleIsSync: true },
      ],
    });
  });

  it("reads a fragment behind other boxes, and refuses a buffer cut inside its moof", () => {
    const frag = buildMediaFragment({ sequenceNumber: 1, tracks: [AUDIO] });
    const styp = Uint8Array.of(0, 0, 0, 16, ...Buffer.from("stypmsdh"), 0, 0, 0, 0);
    expect(readFragment(Buffer.concat([styp, frag])).tracks[0]?.sampleCount).toBe(2);
    expect(() => readFragment(frag.subarray(0, 40))).toThrow(/no moof/);
  });
});

describe("readBoxes", () => {
  it("stops at a truncated box and understands 64-bit and to-the-end sizes", () => {
    const a = Uint8Array.of(0, 0, 0, 8, ...Buffer.from("free"));
    const large = Uint8Array.of(0, 0, 0, 1, ...Buffer.from("mdat"), 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4);
    const toEnd = Uint8Array.of(0, 0, 0, 0, ...Buffer.from("mdat"), 9, 9);
    expect(readBoxes(Buffer.concat([a, large, toEnd]))).toEqual([
      { type: "free", offset: 0, size: 8, headerSize: 8 },
      { type: "mdat", offset: 8, size: 20, headerSize: 16 },
      { type: "mdat", offset: 28, size: 10, headerSize: 8 },
    ]);
    expect(readBoxes(Buffer.concat([a, large.subarray(0, 19)]))).toEqual([{ type: "free", offset: 0, size: 8, headerSize: 8 }]);
  });
});

describe("patchFragment", () => {
  it("rewrites sequence number, decode time and sample description index in place", () => {
    const buf = buildMediaFragment({ sequenceNumber: 1, tracks: [{ ...VIDEO, sampleDescriptionIndex: 1 }, AUDIO] });
    const before = Buffer.from(buf);
    patchFragment(buf, { sequenceNumber: 9, tracks: [{ trackId: 1, baseMediaDecodeTime: 2 ** 40, sampleDescriptionIndex: 3 }, { trackId: 2, baseMediaDecodeTime: 5 }] });
    expect(buf.length).toBe(before.length);
    const info = readFragment(buf);
    expect(info.sequenceNumber).toBe(9);
    expect(info.tracks.map((t) => [t.trackId, t.baseMediaDecodeTime, t.sampleDescriptionIndex])).toEqual([[1, 2 ** 40, 3], [2, 5, undefined]]);
    // Only those fields changed.
    const mdat = readBoxes(buf)[1] as BoxInfo;
    expect(Buffer.from(buf.subarray(mdat.offset)).equals(before.subarray(mdat.offset))).toBe(true);
  });

  it("changes nothing when a field cannot be patched", () => {
    const buf = buildMediaFragment({ sequenceNumber: 1, tracks: [VIDEO] });
    const before = Buffer.from(buf);
    expect(() => patchFragment(buf, { sequenceNumber: 5, tracks: [{ trackId: 1, sampleDescriptionIndex: 2 }] })).toThrow(/no sample_description_index/);
    expect(() => patchFragment(buf, { sequenceNumber: 5, tracks: [{ trackId: 3, baseMediaDecodeTime: 0 }] })).toThrow(/track 3/);
    expect(Buffer.from(buf).equals(before)).toBe(true);
  });
});
