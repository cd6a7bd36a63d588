import type { H264SpsInfo } from "./types.js";

/** Why an SPS could not be parsed: it ends too early, or a field holds an impossible value. */
export type SpsParseErrorReason = "truncated" | "invalid";

export class SpsParseError extends Error {
  override name = "SpsParseError";
  constructor(
    readonly reason: SpsParseErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Exp-Golomb reader over an RBSP (emulation prevention bytes already removed). */
class BitReader {
  private pos = 0;
  private readonly end: number;
  constructor(private readonly buf: Uint8Array) {
    this.end = buf.length * 8;
  }

  bit(): number {
    if (this.pos >= this.end) throw new SpsParseError("truncated", "SPS truncated");
    const v = ((this.buf[this.pos >> 3] as number) >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }

  /** Up to 32 bits, unsigned (multiplication keeps bit 31 from turning the result negative). */
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new SpsParseError("invalid", "SPS exp-Golomb code longer than 32 bits");
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Removes emulation prevention bytes (00 00 03 → 00 00); returns the input itself when there are none. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let first = -1;
  for (let i = 2; i < nal.length; i++) {
    if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) {
      first = i;
      break;
    }
  }
  if (first < 0) return nal;
  const out = new Uint8Array(nal.length);
  out.set(nal.subarray(0, first));
  let o = first;
  let zeros = 0;
  for (let i = first + 1; i < nal.length; i++) {
    const b = nal[i] as number;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[o++] = b;
  }
  return out.subarray(0, o);
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) throw new SpsParseError("invalid", "SPS scaling list delta out of range");
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

// Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function hex2(v: number): string {
  return (v & 0xff).toString(16).padStart(2, "0");
}

/**
 * RFC 6381 codec string, "avc1.PPCCLL" (profile, constraint flags, level in hex). Takes either
 * parsed SPS facts or the SPS NAL unit itself (its bytes 1–3 are those three fields).
 */
export function h264CodecString(sps: Pick<H264SpsInfo, "profileIdc" | "constraintFlags" | "levelIdc"> | Uint8Array): string {
  if (sps instanceof Uint8Array) return `avc1.${hex2(sps[1] ?? 0)}${hex2(sps[2] ?? 0)}${hex2(sps[3] ?? 0)}`;
  return `avc1.${hex2(sps.profileIdc)}${hex2(sps.constraintFlags)}${hex2(sps.levelIdc)}`;
}

function invalid(what: string): never {
  throw new SpsParseError("invalid", `SPS ${what}`);
}

/**
 * Parses an SPS NAL unit (with its 1-byte header): profile, level, display size after
 * cropping, and the frame rate when the VUI carries timing info. Throws SpsParseError when
 * the unit is truncated before the frame size is known, or holds impossible values.
 */
export function parseH264Sps(nal: Uint8Array): H264SpsInfo {
  if (nal.length < 1 || ((nal[0] as number) & 0x1f) !== 7) throw new SpsParseError("invalid", "not an SPS NAL unit");
  if ((nal[0] as number) & 0x80) invalid("has the forbidden bit set");
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.bits(8);
  const constraintFlags = r.bits(8);
  const levelIdc = r.bits(8);
  if (r.ue() > 31) invalid("seq_parameter_set_id above 31");
  const highProfile = HIGH_PROFILES.has(profileIdc);
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (highProfile) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) invalid("chroma_format_idc above 3");
    if (chromaFormatIdc === 3) separateColourPlane = r.bit();
    bitDepthLuma = r.ue() + 8;
    bitDepthChroma = r.ue() + 8;
    if (bitDepthLuma > 14 || bitDepthChroma > 14) invalid("bit depth above 14");
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit()) {
      // seq_scaling_matrix_present_flag: the lists must be walked to reach the fields after them.
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  if (r.ue() > 12) invalid("log2_max_frame_num above 16"); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    if (r.ue() > 12) invalid("log2_max_pic_order_cnt_lsb above 16");
  } else if (pocType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const n = r.ue();
    if (n > 255) invalid("num_ref_frames_in_pic_order_cnt_cycle above 255");
    for (let i = 0; i < n; i++) r.se();
  } else if (pocType !== 2) {
    invalid("pic_order_cnt_type above 2");
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  // 16384 pixels either way is far above level 6.2; anything larger is corrupt, not a picture.
  if (widthMbs > 1024 || heightMapUnits > 1024) invalid("picture size out of range");
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.bit()) {
    cropLeft = r.ue();
    cropRight = r.ue();
    cropTop = r.ue();
    cropBottom = r.ue();
  }
  // Crop offsets count in chroma samples (and field lines when interlaced): 7.4.2.1.1.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0) invalid("cropping leaves no picture");

  let fps: number | undefined;
  try {
    if (r.bit()) fps = readVuiFps(r);
  } catch {
    // The VUI is optional detail, and some encoders write it short: a truncated one leaves
    // fps unknown while the resolution, already read, stands.
  }
  const info: H264SpsInfo = { profileIdc, constraintFlags, levelIdc, width, height, codecString: "" };
  if (fps !== undefined) info.fps = fps;
  if (highProfile) {
    // The avcC of these profiles repeats them (ISO/IEC 14496-15 5.3.3.1.2).
    info.chromaFormatIdc = chromaFormatIdc;
    info.bitDepthLuma = bitDepthLuma;
    info.bitDepthChroma = bitDepthChroma;
  }
  info.codecString = h264CodecString(info);
  return info;
}

/** Reads the VUI up to its timing info: fps = time_scale / (2 × num_units_in_tick) (E.2.1). */
function readVuiFps(r: BitReader): number | undefined {
  if (r.bit()) {
    // aspect_ratio_info_present_flag
    if (r.bits(8) === 255) r.bits(32); // Extended_SAR: sar_width, sar_height
  }
  if (r.bit()) r.bit(); // overscan_info_present_flag → overscan_appropriate_flag
  if (r.bit()) {
    // video_signal_type_present_flag
    r.bits(4); // video_format, video_full_range_flag
    if (r.bit()) r.bits(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.bit()) {
    // chroma_loc_info_present_flag
    r.ue();
    r.ue();
  }
  if (!r.bit()) return undefined; // timing_info_present_flag
  const numUnitsInTick = r.bits(32);
  const timeScale = r.bits(32);
  if (numUnitsInTick === 0 || timeScale === 0) return undefined;
  return Math.round((timeScale / (2 * numUnitsInTick)) * 1000) / 1000;
}
