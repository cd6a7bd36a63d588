import { createDecipheriv, randomBytes } from "node:crypto";
import { ProtectionProfileAeadAes128Gcm, RTCRtpCodecParameters, RTCRtpReceiver, RtpHeader, SrtpAuthenticationError, SrtpSession } from "werift";
import { markReplacement, originalOf, unpatched } from "./werift-patch.js";

/**
 * Per-packet costs of werift 0.25.2's receive path that a checked replacement removes, each
 * measured in the server's CPU profile at 8 publishers (bench/ingest-cost.ts --profile, ms of
 * main-thread CPU out of ~4800 ms):
 * - SRTP AES-GCM decryption allocates a zero-filled buffer per packet to copy the header and
 *   the plaintext into (`Buffer.alloc`: 140 ms); the replacement allocates it unfilled, as every
 *   byte is written;
 * - the receiver's `nackEnabled` / `twccEnabled` getters copy and sort its codec table per
 *   packet to find the lowest payload type (56 ms); the replacement finds it when the table is
 *   written (enumerating the table per packet instead cost 174 ms);
 * - `codec.name` splits the MIME type per call, twice per packet (80 ms); the replacement
 *   caches the split per MIME type.
 * Each is compared with werift's own on the same input before it is put in place.
 */

interface CodecLike {
  payloadType: number;
  rtcpFeedback: { type: string; parameter?: string }[];
}

interface ReceiverLike {
  codecs: Record<number, CodecLike>;
}

/** werift's `codecArray[0]`: the codec with the lowest payload type. */
function lowestCodec(codecs: Record<number, CodecLike>): CodecLike | undefined {
  return Object.values(codecs).sort((a, b) => a.payloadType - b.payloadType)[0];
}

/**
 * The lowest codec per codec table, computed when werift changes the table (prepareReceive and
 * resyncCodecs are the only writers in 0.25.2) instead of per packet. A table not seen through
 * them is computed on each read, as werift does.
 */
const lowestByTable = new WeakMap<object, CodecLike | null>();

const FLAG_TYPES = { nackEnabled: "nack", twccEnabled: "transport-cc" } as const;
const TABLE_WRITERS = ["prepareReceive", "resyncCodecs"] as const;

function cachedLowest(r: ReceiverLike): CodecLike | undefined {
  const hit = lowestByTable.get(r.codecs);
  return hit === undefined ? lowestCodec(r.codecs) : (hit ?? undefined);
}

type Params = { codecs: CodecLike[]; encodings: { ssrc?: number }[] };

/** Receivers to check the flags on: tables written by prepareReceive (cached) and by hand (not). */
function sampleReceivers(proto: object): ReceiverLike[] {
  const codec = (payloadType: number, types: string[]): CodecLike => ({ payloadType, rtcpFeedback: types.map((type) => ({ type })) });
  const tables: CodecLike[][] = [[], [codec(96, ["nack", "transport-cc"])], [codec(111, []), codec(96, ["nack"]), codec(102, ["transport-cc"])], [codec(120, ["nack"]), codec(100, [])]];
  const out: ReceiverLike[] = [];
  for (const codecs of tables) {
    const viaWriter = Object.assign(Object.create(proto) as ReceiverLike & { prepareReceive(p: Params): void }, { codecs: {}, ssrcByRtx: {} });
    viaWriter.prepareReceive({ codecs, encodings: [] });
    out.push(viaWriter, Object.assign(Object.create(proto) as ReceiverLike, { codecs: Object.fromEntries(codecs.map((c) => [c.payloadType, c])) }));
  }
  return out;
}

function installReceiverFlags(): boolean {
  const proto = RTCRtpReceiver.prototype as unknown as Record<string, unknown>;
  const current = Object.getOwnPropertyDescriptor(proto, "nackEnabled")?.get;
  if (current && originalOf(current)) return true; // installed by another copy of this module
  const originals = Object.fromEntries(Object.keys(FLAG_TYPES).map((k) => [k, Object.getOwnPropertyDescriptor(proto, k)?.get]));
  if (Object.values(originals).some((g) => typeof g !== "function")) return false;
  if (TABLE_WRITERS.some((w) => typeof proto[w] !== "function")) return false;
  const writers = Object.fromEntries(TABLE_WRITERS.map((w) => [w, proto[w] as (this: ReceiverLike, ...args: unknown[]) => unknown]));
  for (const w of TABLE_WRITERS) {
    const original = writers[w] as (this: ReceiverLike, ...args: unknown[]) => unknown;
    proto[w] = markReplacement(function (this: ReceiverLike, ...args: unknown[]): unknown {
      const result = original.apply(this, args);
      lowestByTable.set(this.codecs, lowestCodec(this.codecs) ?? null);
      return result;
    }, original);
  }
  const fast = Object.fromEntries(
    Object.entries(FLAG_TYPES).map(([k, type]) => [k, markReplacement(function (this: ReceiverLike) { return cachedLowest(this)?.rtcpFeedback.find((f) => f.type === type); }, originals[k] as () => unknown)]),
  );
  for (const r of sampleReceivers(proto)) {
    for (const k of Object.keys(FLAG_TYPES)) {
      if ((originals[k] as () => unknown).call(r) === (fast[k] as () => unknown).call(r)) continue;
      for (const w of TABLE_WRITERS) proto[w] = writers[w]; // undo
      return false;
    }
  }
  for (const k of Object.keys(FLAG_TYPES)) Object.defineProperty(proto, k, { get: fast[k], configurable: true });
  return true;
}

const MAX_CACHED_NAMES = 64;
const names = new Map<string, string | undefined>();

function installCodecName(): boolean {
  const proto = RTCRtpCodecParameters.prototype as object;
  const original = Object.getOwnPropertyDescriptor(proto, "name")?.get;
  if (typeof original !== "function") return false;
  if (originalOf(original)) return true;
  const fast = markReplacement(function (this: { mimeType: string }): string | undefined {
    const mime = this.mimeType;
    let name = names.get(mime);
    if (name === undefined && !names.has(mime)) {
      name = mime.split("/")[1];
      if (names.size < MAX_CACHED_NAMES) names.set(mime, name);
    }
    return name;
  }, original);
  for (const mimeType of ["video/H264", "audio/opus", "video/rtx", "audio/red", "video/VP8", "text", ""]) {
    const c = Object.assign(Object.create(proto) as { mimeType: string }, { mimeType });
    if (original.call(c) !== fast.call(c)) return false;
  }
  names.clear();
  Object.defineProperty(proto, "name", { get: fast, configurable: true });
  return true;
}

interface GcmCipher {
  aeadAuthTagLen: number;
  srtpSessionKey: Buffer;
  rtpInitializationVector(header: RtpHeader, rolloverCounter: number): Buffer;
  encryptRtp(header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer;
  decryptRtp(cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader];
}

type GcmCtor = new (key: Buffer, salt: Buffer, rtcpKey: Buffer, rtcpSalt: Buffer) => GcmCipher;

const AUTH_FAILED = "Failed to authenticate SRTP packet";

/**
 * werift's CipherAesGcm.decryptRtp with the output buffer unfilled. `header` is the one the SRTP
 * context parsed (it always passes it); without it, werift's own runs.
 */
function fastGcmDecrypt(original: GcmCipher["decryptRtp"]): GcmCipher["decryptRtp"] {
  return function (this: GcmCipher, cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader] {
    if (!header) return original.call(this, cipherText, rolloverCounter);
    const offset = header.payloadOffset;
    const authTagOffset = cipherText.length - this.aeadAuthTagLen;
    const headerBuffer = cipherText.subarray(0, offset);
    const decipher = createDecipheriv("aes-128-gcm", this.srtpSessionKey, this.rtpInitializationVector(header, rolloverCounter));
    decipher.setAAD(headerBuffer);
    decipher.setAuthTag(cipherText.subarray(authTagOffset));
    const dec = decipher.update(cipherText.subarray(offset, authTagOffset));
    try {
      decipher.final();
    } catch {
      throw new SrtpAuthenticationError(AUTH_FAILED);
    }
    // Every byte is written below: the header, then the plaintext after it.
    const dst = Buffer.allocUnsafe(authTagOffset);
    headerBuffer.copy(dst, 0);
    dec.copy(dst, offset);
    if (!header.padding) {
      header.paddingSize = 0;
    } else {
      const paddingSize = dst[dst.length - 1] as number;
      if (!(dst.length > offset && paddingSize > 0 && paddingSize <= dst.length - offset)) throw new SrtpAuthenticationError(AUTH_FAILED);
      header.paddingSize = paddingSize;
    }
    return [dst, header];
  };
}

/** Same output as werift's on fresh keys: plain and padded packets, and the same error on a forged tag. */
function gcmAgrees(Ctor: GcmCtor, original: GcmCipher["decryptRtp"], fast: GcmCipher["decryptRtp"]): boolean {
  const cipher = new Ctor(randomBytes(16), randomBytes(12), randomBytes(16), randomBytes(12));
  const cases: { header: RtpHeader; payload: Buffer }[] = [
    { header: new RtpHeader({ payloadType: 96, sequenceNumber: 65535, timestamp: 90000, ssrc: 0xdeadbeef, marker: true }), payload: randomBytes(1100) },
    { header: new RtpHeader({ payloadType: 111, sequenceNumber: 7, timestamp: 960, ssrc: 42, padding: true, paddingSize: 3, csrc: [1, 2] }), payload: Buffer.concat([randomBytes(40), Buffer.from([0, 0, 3])]) },
  ];
  for (const { header, payload } of cases) {
    const packet = cipher.encryptRtp(header, payload, 3);
    const parse = (): RtpHeader => Object.assign(RtpHeader.deSerialize(packet.subarray(0, packet.length - cipher.aeadAuthTagLen)), { paddingSize: 0 });
    const [a, ha] = original.call(cipher, packet, 3, parse());
    const [b, hb] = fast.call(cipher, packet, 3, parse());
    if (!a.equals(b) || ha.paddingSize !== hb.paddingSize) return false;
    const forged = Buffer.from(packet);
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    for (const fn of [original, fast]) {
      try {
        fn.call(cipher, forged, 3, parse());
        return false;
      } catch (err) {
        if (!(err instanceof SrtpAuthenticationError)) return false;
      }
    }
  }
  return true;
}

/** werift's AES-GCM SRTP cipher class (not exported), from a throwaway session's context. */
export function weriftGcmCipher(): GcmCipher | undefined {
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const session = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile: ProtectionProfileAeadAes128Gcm });
  const cipher = (session as unknown as { remoteContext?: { cipher?: GcmCipher } }).remoteContext?.cipher;
  return cipher && typeof cipher.rtpInitializationVector === "function" && cipher.aeadAuthTagLen === 16 ? cipher : undefined;
}

function installFastSrtpDecrypt(): boolean {
  const cipher = weriftGcmCipher();
  if (!cipher) return false;
  const proto = Object.getPrototypeOf(cipher) as { decryptRtp: GcmCipher["decryptRtp"]; constructor: GcmCtor };
  if (originalOf(proto.decryptRtp)) return true;
  const original = proto.decryptRtp;
  const fast = markReplacement(fastGcmDecrypt(original), original);
  if (!gcmAgrees(proto.constructor, original, fast)) return false;
  proto.decryptRtp = fast;
  return true;
}

export interface ReceivePathInstall {
  srtpDecrypt: boolean;
  receiverFlags: boolean;
  codecName: boolean;
}

/** Installs the three (each once per process); false for a part whose werift original differs (it keeps werift's). */
export function installReceivePathFastPaths(): ReceivePathInstall {
  return { srtpDecrypt: installFastSrtpDecrypt(), receiverFlags: installReceiverFlags(), codecName: installCodecName() };
}

/** werift's own code behind each replacement, installed or not (for equivalence tests). */
export function weriftReceivePathOriginals(): {
  nackEnabled: () => unknown;
  twccEnabled: () => unknown;
  codecName: () => unknown;
  gcmDecrypt: GcmCipher["decryptRtp"] | undefined;
} {
  const getter = (proto: object, k: string): (() => unknown) => unpatched(Object.getOwnPropertyDescriptor(proto, k)?.get as () => unknown);
  const cipher = weriftGcmCipher();
  return {
    nackEnabled: getter(RTCRtpReceiver.prototype, "nackEnabled"),
    twccEnabled: getter(RTCRtpReceiver.prototype, "twccEnabled"),
    codecName: getter(RTCRtpCodecParameters.prototype, "name"),
    gcmDecrypt: cipher ? unpatched((Object.getPrototypeOf(cipher) as GcmCipher).decryptRtp) : undefined,
  };
}
