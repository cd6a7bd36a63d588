import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { nalType, splitAnnexB } from "../../../src/media/h264-nal.js";
import { h264CodecString, parseH264Sps, SpsParseError, unescapeRbsp } from "../../../src/media/h264-sps.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));

// Derived with libx264 (ffmpeg 5.1): ffmpeg -f lavfi -i testsrc2=size=WxH:rate=R -frames:v 1
//   -c:v libx264 -profile:v P -pix_fmt yuv420p -f h264 out.h264, then the NAL of type 7.
const SPS_720P_HIGH = hex("6764001facd9405005bb0110000003001000000303c0f1831960"); // rate 30
const SPS_360P_BASELINE = hex("6742c01ed900a02ff97011000003000100000300320f162e48"); // rate 25
const SPS_1080P_MAIN = hex("674d4028eca03c0113f2e022000007d20001d4c01e30632c"); // rate 30000/1001
// -profile:v high444 -pix_fmt yuv444p at 640x480, 30 fps.
const SPS_480P_HIGH444 = hex("67f4001e919b281407b60220000003002000000781e2c5b2c0");
// -profile:v high -flags +ildct+ilme -x264-params interlaced=1 at 720x576, 25 fps (frame_mbs_only = 0).
const SPS_576I_HIGH = hex("6764001eacd940b424d8088000000300800000190f8a14cb");

/** Writes SPS fields bit by bit, for the syntax x264 never produces (scaling lists, POC type 1, 4:2:2...). */
class BitWriter {
  private readonly out: number[] = [];
  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.out.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }
  ue(v: number): this {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    return this.u(len, 0).u(len + 1, x);
  }
  se(v: number): this {
    return this.ue(v <= 0 ? -2 * v : 2 * v - 1);
  }
  /** rbsp_trailing_bits, then the bytes. */
  bytes(): Uint8Array {
    this.out.push(1);
    while (this.out.length % 8) this.out.push(0);
    const b = new Uint8Array(this.out.length / 8);
    for (let i = 0; i < this.out.length; i++) b[i >> 3] = ((b[i >> 3] as number) << 1) | (this.out[i] as number);
    return b;
  }
}

/** Inserts emulation prevention bytes (7.4.1): 00 00 0x (x ≤ 3) → 00 00 03 0x. */
function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

function nal(rbsp: Uint8Array): Uint8Array {
  return Uint8Array.from([0x67, ...escape(rbsp)]);
}

interface SyntheticSps {
  profileIdc: number;
  levelIdc?: number;
  spsId?: number;
  chromaFormatIdc?: number;
  separateColourPlane?: boolean;
  bitDepthLuma?: number;
  scalingLists?: (number[] | undefined)[]; // delta_scale values per list, undefined = not present
  pocType?: number;
  pocCycle?: number[];
  offsetForNonRefPic?: number;
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly?: boolean;
  crop?: [number, number, number, number];
  vui?: { sar?: [number, number]; timing?: [number, number]; stopBeforeTiming?: boolean };
}

function buildSps(o: SyntheticSps): Uint8Array {
  const w = new BitWriter().u(8, o.profileIdc).u(8, 0).u(8, o.levelIdc ?? 40).ue(o.spsId ?? 0);
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(o.profileIdc)) {
    const chroma = o.chromaFormatIdc ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, o.separateColourPlane ? 1 : 0);
    w.ue((o.bitDepthLuma ?? 8) - 8).ue((o.bitDepthLuma ?? 8) - 8).u(1, 0);
    if (o.scalingLists) {
      w.u(1, 1);
      const count = chroma === 3 ? 12 : 8;
      for (let i = 0; i < count; i++) {
        const deltas = o.scalingLists[i];
        w.u(1, deltas ? 1 : 0);
        for (const d of deltas ?? []) w.se(d);
      }
    } else {
      w.u(1, 0);
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const poc = o.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  else if (poc === 1) {
    w.u(1, 0).se(o.offsetForNonRefPic ?? -2).se(0).ue(o.pocCycle?.length ?? 0);
    for (const c of o.pocCycle ?? []) w.se(c);
  }
  w.ue(1).u(1, 0).ue(o.widthMbs - 1).ue(o.heightMapUnits - 1);
  w.u(1, o.frameMbsOnly === false ? 0 : 1);
  if (o.frameMbsOnly === false) w.u(1, 0);
  w.u(1, 1);
  if (o.crop) {
    w.u(1, 1);
    for (const c of o.crop) w.ue(c);
  } else {
    w.u(1, 0);
  }
  if (o.vui) {
    w.u(1, 1);
    if (o.vui.sar) w.u(1, 1).u(8, 255).u(16, o.vui.sar[0]).u(16, o.vui.sar[1]);
    else w.u(1, 0);
    w.u(1, 1).u(1, 0); // overscan info present, not appropriate
    w.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(8, 1).u(8, 1).u(8, 1); // video signal type with colour description
    w.u(1, 1).ue(0).ue(0); // chroma location
    if (o.vui.stopBeforeTiming) return nal(w.bytes()).subarray(0, -1);
    if (o.vui.timing) w.u(1, 1).u(32, o.vui.timing[0]).u(32, o.vui.timing[1]).u(1, 1);
    else w.u(1, 0);
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0); // no HRD, no pic_struct, no bitstream restriction
  } else {
    w.u(1, 0);
  }
  return nal(w.bytes());
}

describe("parseH264Sps on libx264 output", () => {
  it("reads 1280x720 high profile with its frame rate", () => {
    expect(parseH264Sps(SPS_720P_HIGH)).toEqual({
      profileIdc: 100,
      constraintFlags: 0,
      levelIdc: 31,
      width: 1280,
      height: 720,
      fps: 30,
      codecString: "avc1.64001f",
      chromaFormatIdc: 1,
      bitDepthLuma: 8,
      bitDepthChroma: 8,
    });
  });

  it("reads 640x360 constrained baseline (368 coded lines cropped to 360)", () => {
    expect(parseH264Sps(SPS_360P_BASELINE)).toEqual({
      profileIdc: 66,
      constraintFlags: 0xc0,
      levelIdc: 30,
      width: 640,
      height: 360,
      fps: 25,
      codecString: "avc1.42c01e",
    });
  });

  it("reads 1920x1080 main (1088 coded lines cropped) at 29.97 fps", () => {
    const info = parseH264Sps(SPS_1080P_MAIN);
    expect(info).toMatchObject({ profileIdc: 77, constraintFlags: 0x40, levelIdc: 40, width: 1920, height: 1080, codecString: "avc1.4d4028" });
    expect(info.fps).toBeCloseTo(30000 / 1001, 3);
    expect(info.chromaFormatIdc).toBeUndefined();
  });

  it("reads high 4:4:4 and interlaced (frame_mbs_only = 0) streams", () => {
    expect(parseH264Sps(SPS_480P_HIGH444)).toMatchObject({ profileIdc: 244, width: 640, height: 480, fps: 30, chromaFormatIdc: 3 });
    expect(parseH264Sps(SPS_576I_HIGH)).toMatchObject({ profileIdc: 100, width: 720, height: 576, fps: 25 });
  });

  it("parses the SPS of a stream encoded now (ffmpeg + libx264)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ifc-sps-"));
    try {
      const file = path.join(dir, "out.h264");
      await promisify(execFile)("ffmpeg", [
        "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=24", "-frames:v", "1",
        "-c:v", "libx264", "-profile:v", "main", "-pix_fmt", "yuv420p", "-f", "h264", file,
      ]);
      const sps = splitAnnexB(await readFile(file)).find((n) => nalType(n) === 7);
      expect(sps).toBeDefined();
      // 854 is not a multiple of 16: 864 coded columns, cropped by 10.
      expect(parseH264Sps(sps as Uint8Array)).toMatchObject({ profileIdc: 77, width: 854, height: 480, fps: 24 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("parseH264Sps on synthetic syntax", () => {
  it("walks scaling lists, 4:2:2 cropping, POC type 1 and a VUI with extended SAR", () => {
    const sps = buildSps({
      profileIdc: 122,
      chromaFormatIdc: 2,
      bitDepthLuma: 10,
      // list 0: 16 deltas; list 1: a 0 delta... ending early via nextScale 0 (use default);
      // list 6 (8x8): 64 deltas of +1 and -1 alternating.
      scalingLists: [Array.from({ length: 16 }, (_, i) => (i % 3) - 1), [-8], undefined, undefined, undefined, undefined,
        Array.from({ length: 64 }, (_, i) => (i % 2 ? -1 : 1)), undefined],
      pocType: 1,
      pocCycle: [5, -3, 2],
      widthMbs: 120,
      heightMapUnits: 68,
      crop: [2, 0, 0, 8], // 4:2:2: x in units of 2, y in units of 1
      vui: { sar: [4, 3], timing: [1001, 120000] },
    });
    const info = parseH264Sps(sps);
    expect(info).toMatchObject({ profileIdc: 122, width: 1916, height: 1080, chromaFormatIdc: 2, bitDepthLuma: 10, bitDepthChroma: 10 });
    expect(info.fps).toBeCloseTo(59.94, 2);
  });

  it("handles 4:4:4 with 12 scaling lists, and separate colour planes (crop unit 1)", () => {
    const lists = Array.from({ length: 12 }, (_, i) => (i % 2 ? undefined : Array.from({ length: i < 6 ? 16 : 64 }, () => 1)));
    expect(parseH264Sps(buildSps({ profileIdc: 244, chromaFormatIdc: 3, scalingLists: lists, widthMbs: 40, heightMapUnits: 30, crop: [1, 2, 3, 4] })))
      .toMatchObject({ width: 640 - 3, height: 480 - 7, chromaFormatIdc: 3 });
    expect(parseH264Sps(buildSps({ profileIdc: 244, chromaFormatIdc: 3, separateColourPlane: true, widthMbs: 40, heightMapUnits: 30, crop: [0, 5, 0, 3] })))
      .toMatchObject({ width: 635, height: 477 });
  });

  it("handles monochrome and field coding in the crop units", () => {
    // Monochrome: crop unit 1 horizontally, (2 - frame_mbs_only) vertically.
    expect(parseH264Sps(buildSps({ profileIdc: 100, chromaFormatIdc: 0, widthMbs: 20, heightMapUnits: 9, frameMbsOnly: false, crop: [0, 3, 0, 1] })))
      .toMatchObject({ width: 317, height: 286 });
    // 4:2:0 fields: 2 × 18 map units × 16 = 576 lines, crop unit 4 vertically.
    expect(parseH264Sps(buildSps({ profileIdc: 77, widthMbs: 45, heightMapUnits: 18, frameMbsOnly: false, crop: [0, 0, 0, 2] })))
      .toMatchObject({ width: 720, height: 568 });
  });

  it("removes emulation prevention bytes before reading", () => {
    // A huge offset_for_non_ref_pic writes a long run of zero bits, which needs escaping.
    const sps = buildSps({ profileIdc: 66, pocType: 1, offsetForNonRefPic: -(2 ** 24), pocCycle: [0, 0], widthMbs: 80, heightMapUnits: 45 });
    const unescaped = unescapeRbsp(sps);
    expect(unescaped.length).toBeLessThan(sps.length); // the fixture really has an escape
    expect(parseH264Sps(sps)).toMatchObject({ width: 1280, height: 720 });
    expect(Array.from(unescapeRbsp(hex("0000030100000302")))).toEqual([0, 0, 1, 0, 0, 2]);
    const plain = hex("6742c01e");
    expect(unescapeRbsp(plain)).toBe(plain); // nothing to remove: no copy
  });

  it("leaves fps unknown without VUI timing, or with a VUI cut short", () => {
    const noTiming = parseH264Sps(buildSps({ profileIdc: 66, widthMbs: 40, heightMapUnits: 30, vui: {} }));
    expect(noTiming).toMatchObject({ width: 640, height: 480 });
    expect(noTiming.fps).toBeUndefined();
    expect("fps" in noTiming).toBe(false);
    const cut = parseH264Sps(buildSps({ profileIdc: 66, widthMbs: 40, heightMapUnits: 30, vui: { stopBeforeTiming: true } }));
    expect(cut).toMatchObject({ width: 640, height: 480 });
    expect(cut.fps).toBeUndefined();
  });
});

describe("parseH264Sps errors", () => {
  it("throws a truncated SpsParseError for every cut before the frame size is known", () => {
    let truncated = 0;
    for (let len = 1; len < SPS_720P_HIGH.length; len++) {
      try {
        const info = parseH264Sps(SPS_720P_HIGH.subarray(0, len));
        // Only a cut inside the VUI may parse, and then the size is right.
        expect(info).toMatchObject({ width: 1280, height: 720 });
        expect(len).toBeGreaterThan(8);
      } catch (err) {
        expect(err).toBeInstanceOf(SpsParseError);
        expect((err as SpsParseError).reason).toBe("truncated");
        truncated++;
      }
    }
    expect(truncated).toBeGreaterThanOrEqual(8);
  });

  it("rejects impossible values as invalid", () => {
    const reason = (b: Uint8Array): string | undefined => {
      try {
        parseH264Sps(b);
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(SpsParseError);
        return (err as SpsParseError).reason;
      }
    };
    expect(reason(hex("68ebe3cb22c0"))).toBe("invalid"); // a PPS
    expect(reason(hex("e764001fac"))).toBe("invalid"); // forbidden bit
    expect(reason(new Uint8Array())).toBe("invalid");
    expect(reason(buildSps({ profileIdc: 66, spsId: 32, widthMbs: 40, heightMapUnits: 30 }))).toBe("invalid");
    expect(reason(buildSps({ profileIdc: 100, chromaFormatIdc: 4, widthMbs: 40, heightMapUnits: 30 }))).toBe("invalid");
    expect(reason(buildSps({ profileIdc: 66, pocType: 3, widthMbs: 40, heightMapUnits: 30 }))).toBe("invalid");
    expect(reason(buildSps({ profileIdc: 66, widthMbs: 2, heightMapUnits: 2, crop: [8, 8, 0, 0] }))).toBe("invalid");
    expect(reason(hex("6742c01e00000000000000"))).toBe("invalid"); // exp-Golomb over 32 bits
  });
});

describe("h264CodecString", () => {
  it("formats avc1.PPCCLL from parsed facts or from the SPS bytes", () => {
    expect(h264CodecString({ profileIdc: 0x42, constraintFlags: 0xe0, levelIdc: 0x1f })).toBe("avc1.42e01f");
    expect(h264CodecString(SPS_1080P_MAIN)).toBe("avc1.4d4028");
    expect(h264CodecString(SPS_360P_BASELINE)).toBe(parseH264Sps(SPS_360P_BASELINE).codecString);
  });
});
