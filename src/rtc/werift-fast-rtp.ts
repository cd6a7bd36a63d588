import { RtpHeader } from "werift";
import { markReplacement, originalOf, unpatched } from "./werift-patch.js";

/**
 * werift 0.25.2 parses every RTP header twice per received packet (once to find the SRTP
 * payload, once after decryption), and each parse reads its six bit fields through a helper
 * that formats the byte as a binary string, splits, pads and re-parses it: 492 ms of 5678 ms
 * of the server's main-thread CPU at 8 publishers (bench/ingest-cost.ts --profile, 8.7 %).
 *
 * `fastRtpHeaderDeSerialize` does the same parse with shifts and masks and returns the same
 * object (same class, same fields, same values, same views on the buffer) and throws where the
 * original throws. `installFastRtpHeaderParsing` puts it in place of `RtpHeader.deSerialize`, the
 * public static werift's SRTP and RTP paths call, once per process, and only after checking it
 * agrees with the original on reference packets: a werift that changed its parse keeps its own.
 */

const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x1000;

interface RtpHeaderExtension {
  id: number;
  payload: Buffer;
}

/** werift types the profile as its two known values; the parse keeps whatever the packet says. */
type HeaderFields = Omit<RtpHeader, "extensionProfile"> & { extensionProfile: number; extensionLength?: number; extensions: RtpHeaderExtension[] };

export function fastRtpHeaderDeSerialize(raw: Buffer): RtpHeader {
  const h = new RtpHeader() as HeaderFields;
  const b0 = raw[0];
  // The original formats the byte as a string: an empty buffer fails there.
  if (b0 === undefined) throw new TypeError("RTP header: empty packet");
  h.version = b0 >> 6;
  h.padding = (b0 & 0x20) !== 0;
  h.extension = (b0 & 0x10) !== 0;
  h.csrcLength = b0 & 0x0f;
  const b1 = raw[1] as number;
  h.marker = (b1 & 0x80) !== 0;
  h.payloadType = b1 & 0x7f;
  // Throw (RangeError) for a short packet where the original's reads would.
  h.sequenceNumber = raw.readUInt16BE(2);
  h.timestamp = raw.readUInt32BE(4);
  h.ssrc = raw.readUInt32BE(8);
  const csrc = new Array<number>(h.csrcLength);
  for (let i = 0; i < h.csrcLength; i++) csrc[i] = raw.readUInt32BE(12 + i * 4);
  h.csrc = csrc;
  let at = 12 + h.csrcLength * 4;
  if (h.extension) {
    h.extensionProfile = raw.readUInt16BE(at);
    at += 2;
    const extensionLength = raw.readUInt16BE(at) * 4;
    h.extensionLength = extensionLength;
    at += 2;
    const end = at + extensionLength;
    const extensions = h.extensions;
    if (h.extensionProfile === ONE_BYTE_PROFILE) {
      while (at < end) {
        const b = raw[at];
        if (b === 0) {
          at++;
          continue;
        }
        // Past the buffer's end the original reads `undefined`: id 0, length 1.
        const id = b === undefined ? 0 : b >> 4;
        const len = b === undefined ? 1 : (b & 0x0f) + 1;
        at++;
        if (id === 15) break;
        extensions.push({ id, payload: raw.subarray(at, at + len) });
        at += len;
      }
    } else if (h.extensionProfile === TWO_BYTE_PROFILE) {
      while (at < end) {
        if (raw[at] === 0) {
          at++;
          continue;
        }
        const id = raw[at] as number;
        at++;
        const len = raw[at] as number;
        at++;
        extensions.push({ id, payload: raw.subarray(at, at + len) });
        at += len;
      }
    } else {
      const payload = raw.subarray(at, at + extensionLength);
      extensions.push({ id: 0, payload });
      at += payload.length;
    }
  }
  h.payloadOffset = at;
  if (h.padding) h.paddingSize = raw[raw.length - 1] as number;
  return h as unknown as RtpHeader;
}

/** A header as plain data, for comparing two parses (payload views by offset and content). */
function describe(h: RtpHeader): string {
  const { extensions, ...rest } = h as unknown as HeaderFields;
  const ext = extensions.map((e) => ({ id: e.id, at: e.payload.byteOffset, hex: e.payload.toString("hex") }));
  return JSON.stringify({ ...rest, extensions: ext });
}

/** Whether both parses agree on `raw`: equal headers, or both throw. */
export function sameParse(original: (raw: Buffer) => RtpHeader, raw: Buffer): boolean {
  let a: string | Error;
  let b: string | Error;
  try {
    a = describe(original(raw));
  } catch (err) {
    a = err as Error;
  }
  try {
    b = describe(fastRtpHeaderDeSerialize(raw));
  } catch (err) {
    b = err as Error;
  }
  return typeof a === "string" && typeof b === "string" ? a === b : typeof a !== "string" && typeof b !== "string";
}

/** Reference packets: plain, marker, CSRCs, padding, one- and two-byte extensions, odd profile, truncated. */
function referencePackets(): Buffer[] {
  const hex = [
    "80e0123400000001deadbeef" + "aabbcc",
    "b061ffff0001e2400badf00d" + "11111111" + "22222222" + "00010203" + "04050607" + "080903",
    "906f0001000000640000000a" + "bede0002" + "10ff2001" + "02000000" + "cafe",
    "906f0001000000640000000a" + "10000002" + "0102aabb" + "00030100" + "beef",
    "906f0001000000640000000a" + "abcd0001" + "01020304" + "ff",
    "906f0001000000640000000a" + "bede0003" + "f0",
    "a3e0123400000001deadbeef" + "00000001" + "00000002" + "00000003" + "6565650002",
    "8060",
    "",
  ];
  return hex.map((h) => Buffer.from(h, "hex"));
}

export type FastRtpInstall = "installed" | "already" | "disagrees";

/** werift's own `RtpHeader.deSerialize`, installed or not (for equivalence tests). */
export function weriftRtpHeaderParse(): (raw: Buffer) => RtpHeader {
  return unpatched(RtpHeader.deSerialize).bind(RtpHeader);
}

/**
 * Replaces werift's `RtpHeader.deSerialize` with the fast parse after checking both agree on
 * reference packets; "disagrees" leaves werift's own (the caller logs it).
 */
export function installFastRtpHeaderParsing(): FastRtpInstall {
  const target = RtpHeader as unknown as { deSerialize: (raw: Buffer) => RtpHeader };
  if (originalOf(target.deSerialize)) return "already";
  const original = target.deSerialize;
  if (!referencePackets().every((raw) => sameParse(original.bind(RtpHeader), raw))) return "disagrees";
  target.deSerialize = markReplacement((raw: Buffer) => fastRtpHeaderDeSerialize(raw), original);
  return "installed";
}
