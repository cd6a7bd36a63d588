/**
 * MPEG-4 Audio AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): what an AAC stream's SDP
 * `config=` (RFC 3640) and an MP4 `esds` DecoderSpecificInfo carry. Only the fields a recorder
 * and a depacketizer need are read: object type, rates, channels, frame length.
 */

export interface AacConfig {
  /** Audio object type (2: AAC-LC, 5: SBR, 29: PS, …), after the escape (31 → 32 + 6 bits). */
  objectType: number;
  /** Output sample rate (Hz): the SBR extension rate when SBR is signalled, else the core rate. */
  sampleRate: number;
  /** The core coder's rate (Hz), from samplingFrequencyIndex or the explicit 24-bit value. */
  coreSampleRate: number;
  /** Output channels (from channelConfiguration, or counted from a program_config_element). */
  channels: number;
  /** Samples per access unit at `sampleRate` (1024 for AAC-LC; 960 with frameLengthFlag; doubled by SBR). */
  frameSamples: number;
  /** SBR present (explicitly, object type 5/29, or by a backward-compatible sync extension). */
  sbr: boolean;
  /** RFC 6381 codec string, "mp4a.40.<objectType>". */
  codecString: string;
}

export class AacConfigError extends Error {
  constructor(message: string) {
    super(`AudioSpecificConfig: ${message}`);
    this.name = "AacConfigError";
  }
}

const FREQUENCIES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
// channelConfiguration → channels (ISO 14496-3 table 1.19; 0 means a PCE says, 8-10 and 13 reserved).
const CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8, -1, -1, -1, 7, 8, -1, 8];
// Object types whose config is a GASpecificConfig (AAC main/LC/SSR/LTP, scalable, TwinVQ, ER variants).
const GA_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23]);
const EP_CONFIG_TYPES = new Set([17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 39]);

class Bits {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length * 8 - this.pos;
  }
  read(n: number): number {
    if (n > this.left) throw new AacConfigError(`truncated (needs ${n} more bits at bit ${this.pos})`);
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.b[(this.pos >> 3)] as number;
      v = v * 2 + ((byte >> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return v;
  }
}

function objectType(r: Bits): number {
  const t = r.read(5);
  return t === 31 ? 32 + r.read(6) : t;
}

function frequency(r: Bits): number {
  const index = r.read(4);
  if (index === 15) return r.read(24);
  const f = FREQUENCIES[index];
  if (f === undefined) throw new AacConfigError(`reserved sampling frequency index ${index}`);
  return f;
}

/** Channels a program_config_element (§4.4.1.1) declares: one per SCE, two per CPE, plus LFEs. */
function pceChannels(r: Bits): number {
  r.read(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.read(4);
  const side = r.read(4);
  const back = r.read(4);
  const lfe = r.read(2);
  r.read(3 + 4); // num_assoc_data_elements, num_valid_cc_elements
  if (r.read(1)) r.read(4); // mono_mixdown
  if (r.read(1)) r.read(4); // stereo_mixdown
  if (r.read(1)) r.read(3); // matrix_mixdown
  let channels = lfe;
  for (let i = 0; i < front + side + back; i++) {
    channels += r.read(1) ? 2 : 1; // is_cpe
    r.read(4);
  }
  return channels;
}

/**
 * Parses an AudioSpecificConfig. Throws AacConfigError on truncated or reserved values; the
 * trailing fields past those read here (ER tools, epConfig details) are not required.
 */
export function parseAacConfig(config: Uint8Array): AacConfig {
  return readAudioSpecificConfig(new Bits(config));
}

/** AudioSpecificConfig from the reader's position, which is left after it (and after a sync extension if one follows). */
function readAudioSpecificConfig(r: Bits): AacConfig {
  let ot = objectType(r);
  if (ot === 0) throw new AacConfigError("object type 0 (null)");
  const coreRate = frequency(r);
  const channelConfig = r.read(4);
  let channels = CHANNELS[channelConfig] ?? -1;
  if (channels < 0) throw new AacConfigError(`reserved channel configuration ${channelConfig}`);
  const signalled = ot;
  let sbr = false;
  let extensionRate = 0;
  if (ot === 5 || ot === 29) {
    // Explicit hierarchical signalling: SBR (and PS) over a core coder described next.
    sbr = true;
    extensionRate = frequency(r);
    ot = objectType(r);
    if (ot === 22) r.read(4); // extensionChannelConfiguration
  }
  let frameLength = 1024;
  if (GA_TYPES.has(ot)) {
    if (r.read(1)) frameLength = ot === 23 ? 480 : 960; // frameLengthFlag (ER AAC LD: 512/480)
    else if (ot === 23) frameLength = 512;
    if (r.read(1)) r.read(14); // dependsOnCoreCoder → coreCoderDelay
    const extensionFlag = r.read(1);
    if (channelConfig === 0) channels = pceChannels(r);
    if (ot === 6 || ot === 20) r.read(3); // layerNr
    if (extensionFlag) {
      if (ot === 22) r.read(5 + 11);
      if (ot === 17 || ot === 19 || ot === 20 || ot === 23) r.read(3);
      r.read(1); // extensionFlag3
    }
    if (EP_CONFIG_TYPES.has(ot)) r.read(2); // epConfig (its extra fields only for values 2/3, not read)
    // Backward-compatible SBR signalling (§1.6.5.2): a sync extension after the core config.
    if (!sbr && r.left >= 16) {
      const at = r.pos;
      if (r.read(11) === 0x2b7 && objectType(r) === 5 && r.left >= 1) {
        if (r.read(1)) {
          sbr = true;
          extensionRate = frequency(r);
        }
      } else {
        r.pos = at; // no extension: what follows is not ours (a LATM StreamMuxConfig's next fields)
      }
    }
  } else if (ot === 39) {
    frameLength = r.read(1) ? 480 : 512; // ER AAC ELD: ELDSpecificConfig's frameLengthFlag
    if (channelConfig === 0) throw new AacConfigError(`object type ${ot}: channels from a program config are not supported`);
  } else if (channelConfig === 0) {
    throw new AacConfigError(`object type ${ot}: channels from a program config are not supported`);
  }
  if (channels === 0) throw new AacConfigError("no channels");
  const sampleRate = sbr && extensionRate > 0 ? extensionRate : coreRate;
  if (coreRate <= 0 || sampleRate <= 0) throw new AacConfigError("zero sampling frequency");
  return {
    objectType: signalled,
    sampleRate,
    coreSampleRate: coreRate,
    channels,
    frameSamples: Math.round((frameLength * sampleRate) / coreRate),
    sbr,
    codecString: `mp4a.40.${signalled}`,
  };
}

/** RTP timestamp ticks per access unit on a clock of `clockRate` Hz (RFC 3640: usually the sample rate). */
export function aacFrameTicks(config: AacConfig, clockRate: number): number {
  return Math.max(1, Math.round((config.frameSamples * clockRate) / config.sampleRate));
}

/** Parses the hex of an SDP `config=` parameter (RFC 3640 §4.1). */
export function aacConfigFromHex(hex: string): Uint8Array {
  const h = hex.trim();
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) throw new AacConfigError(`bad hex "${hex.slice(0, 40)}"`);
  return Uint8Array.from(Buffer.from(h, "hex"));
}

/** What a LATM StreamMuxConfig (ISO 14496-3 §1.7.3; RFC 6416 `config=`) says of its one stream. */
export interface LatmConfig {
  /** The AudioSpecificConfig inside, as bytes (it is bit-aligned there): what an esds carries. */
  audioSpecificConfig: Uint8Array;
  aac: AacConfig;
  /** AudioMuxElements carry numSubFrames + 1 payloads each. */
  subFrames: number;
}

/**
 * Parses a StreamMuxConfig of the form RTP senders use (GStreamer's rtpmp4apay, ffmpeg's
 * `-rtpflags latm`): audioMuxVersion 0, one program, one layer, frameLengthType 0 (payload
 * lengths in bytes). Anything else throws AacConfigError.
 */
export function parseLatmConfig(config: Uint8Array): LatmConfig {
  const r = new Bits(config);
  if (r.read(1) !== 0) throw new AacConfigError("LATM audioMuxVersion 1 is not supported");
  if (r.read(1) !== 1) throw new AacConfigError("LATM with allStreamsSameTimeFraming 0 is not supported");
  const subFrames = r.read(6) + 1;
  const programs = r.read(4) + 1;
  const layers = r.read(3) + 1;
  if (programs !== 1 || layers !== 1) throw new AacConfigError(`LATM with ${programs} programs and ${layers} layers is not supported (one of each)`);
  const start = r.pos;
  const aac = readAudioSpecificConfig(r);
  const bits = r.pos - start;
  const frameLengthType = r.read(3);
  if (frameLengthType !== 0) throw new AacConfigError(`LATM frameLengthType ${frameLengthType} is not supported (0: lengths in bytes)`);
  // Copy the ASC's bits out, byte-aligned, zero-padded.
  const asc = new Uint8Array((bits + 7) >> 3);
  const copy = new Bits(config);
  copy.pos = start;
  for (let i = 0; i < bits; i++) if (copy.read(1)) asc[i >> 3] = (asc[i >> 3] as number) | (0x80 >> (i & 7));
  return { audioSpecificConfig: asc, aac, subFrames };
}
