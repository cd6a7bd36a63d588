import { NAL_TYPE, nalType } from "../media/h264-nal.js";
import type { VideoAccessUnit } from "../media/types.js";

const START_CODE = [0, 0, 0, 1] as const;
/** An access unit delimiter (primary_pic_type 7: any slice type). */
const AUD_NAL = [NAL_TYPE.AUD, 0xf0] as const;

/**
 * One access unit as Annex-B bytes for a decoder reading a raw H.264 byte stream:
 * - SPS and PPS go before an IDR when the unit does not carry them (RTP publishers often send
 *   them once, out of band or in an earlier unit), so that decoding can start at any IDR;
 * - the unit ENDS with an access unit delimiter. ffmpeg's H.264 parser only knows a picture is
 *   complete when it sees the start of the next one; without the trailing AUD every frame would
 *   wait for the next access unit (one frame interval, 33 ms at 30 fps: measured). Leading AUDs
 *   of the unit are dropped so that each one costs a single empty packet at most.
 */
export function accessUnitToAnnexB(au: Pick<VideoAccessUnit, "nalus" | "isKeyframe" | "sps" | "pps">): Buffer {
  const nalus: Uint8Array[] = [];
  if (au.isKeyframe) {
    const hasSps = au.nalus.some((n) => nalType(n) === NAL_TYPE.SPS);
    const hasPps = au.nalus.some((n) => nalType(n) === NAL_TYPE.PPS);
    if (!hasSps && au.sps) nalus.push(au.sps);
    if (!hasPps && au.pps) nalus.push(au.pps);
  }
  for (const n of au.nalus) {
    if (n.length > 0 && nalType(n) !== NAL_TYPE.AUD) nalus.push(n);
  }
  let size = START_CODE.length + AUD_NAL.length;
  for (const n of nalus) size += START_CODE.length + n.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const n of nalus) {
    out.writeUInt32BE(1, o);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  out.writeUInt32BE(1, o);
  out[o + 4] = AUD_NAL[0];
  out[o + 5] = AUD_NAL[1];
  return out;
}
