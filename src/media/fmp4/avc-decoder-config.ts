import { parseH264Sps } from "../h264-sps.js";
import { box, u16, u8 } from "./box.js";

/** profile_idc values whose avcC carries chroma format and bit depths (ISO/IEC 14496-15 §5.3.3.1.2). */
const PROFILES_WITH_EXTENSION = new Set([100, 110, 122, 144]);

/**
 * The `avcC` box: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) for parameter sets
 * given without start codes. Samples use 4-byte NAL lengths. Profile, compatibility and level
 * are copied from the first SPS's bytes 1–3, which the record repeats by definition.
 */
export function buildAvcC(spsList: readonly Uint8Array[], ppsList: readonly Uint8Array[]): Uint8Array {
  const sps = spsList[0];
  if (!sps || sps.length < 4) throw new Error("avcC needs an SPS of at least 4 bytes");
  if (spsList.length > 31) throw new Error("avcC holds at most 31 SPS");
  if (ppsList.length === 0 || ppsList.length > 255) throw new Error("avcC needs 1 to 255 PPS");
  for (const p of [...spsList, ...ppsList]) if (p.length > 0xffff) throw new Error("parameter set longer than 65535 bytes");
  const profile = sps[1] as number;
  const parts: Uint8Array[] = [
    u8(1), // configurationVersion
    u8(profile),
    u8(sps[2] as number), // profile_compatibility (the constraint flags)
    u8(sps[3] as number),
    u8(0xfc | 3), // reserved bits, lengthSizeMinusOne = 3
    u8(0xe0 | spsList.length),
  ];
  for (const s of spsList) parts.push(u16(s.length), s);
  parts.push(u8(ppsList.length));
  for (const p of ppsList) parts.push(u16(p.length), p);
  if (PROFILES_WITH_EXTENSION.has(profile)) {
    const info = parseH264Sps(sps);
    parts.push(
      u8(0xfc | (info.chromaFormatIdc ?? 1)),
      u8(0xf8 | ((info.bitDepthLuma ?? 8) - 8)),
      u8(0xf8 | ((info.bitDepthChroma ?? 8) - 8)),
      u8(0), // numOfSequenceParameterSetExt
    );
  }
  return box("avcC", ...parts);
}
