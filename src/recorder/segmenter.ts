import { aacFrameTicks, parseAacConfig } from "../media/aac-config.js";
import { buildInitSegment, buildMediaFragment, type InitAudioTrack } from "../media/fmp4/index.js";
import { nalType, NAL_TYPE, toAvcc } from "../media/h264-nal.js";
import { parseH264Sps } from "../media/h264-sps.js";
import type { AudioFrame, H264SpsInfo, VideoAccessUnit } from "../media/types.js";
import { OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ } from "../media/types.js";

export interface SegmenterOptions {
  segmentDurationMs: number;
  partDurationMs: number;
  keyframeRequestLeadMs: number;
  maxSegmentDurationMs: number;
  /**
   * Cut segments on wall-clock multiples of the segment duration (…:00, :04, :08 for 4 s), so
   * segments of different streams line up; the keyframe request is timed for the boundary.
   */
  alignToWallClock?: boolean;
  /**
   * The stream's audio track, when it has one: Opus (the default codec), or AAC with its
   * AudioSpecificConfig, whose frames count in `sampleRate` (the track's RTP clock).
   */
  audio?: SegmenterAudio;
  /**
   * A video hole longer than this (and than 3 frame intervals) without a `discontinuity` flag is
   * a break too (an ICE-restart resume keeps the RTP clock running and flags nothing). Default
   * DEFAULT_GAP_THRESHOLD_MS; shorter holes (a few lost frames) stay inside their segment.
   */
  gapThresholdMs?: number;
}

/** See `SegmenterOptions.gapThresholdMs`: the same 2 s as IFC_RTP_MAX_JUMP_MS's default. */
export const DEFAULT_GAP_THRESHOLD_MS = 2000;
/** A hole must also be this many frame intervals long to be a break (slow, timelapse-like cameras). */
export const GAP_MIN_FRAME_INTERVALS = 3;

export type SegmenterAudio = { codec?: "opus"; channels: number } | { codec: "aac"; channels: number; sampleRate: number; config: Uint8Array };

export interface InitOutput {
  index: number;
  data: Uint8Array;
  sps: H264SpsInfo;
  /** RFC 6381 codec of the audio track when there is one: "opus", "mp4a.40.2", … */
  audioCodec?: string;
}

export interface PartOutput {
  seq: number;
  part: number;
  data: Uint8Array;
  durationMs: number;
  independent: boolean;
  /** Set on the first part of a segment. */
  segmentStart?: {
    startMs: number;
    startDts: number;
    init: number;
    /** Breaks and init changes so far (HLS discontinuity sequence number of the segment). */
    discontinuity?: number;
  };
}

export interface SegmentClosed {
  seq: number;
  durationMs: number;
}

/** Why a recording has a hole: a flagged break in the publisher's timeline, or a plain time hole. */
export type GapReason = "discontinuity" | "time-hole";

/**
 * A break in the recording, told before the first part of the segment after it. Times are on
 * the recording's one clock mapping (like segment starts): `fromMs` is the last frame recorded
 * before the break, `toMs` the first one after (the new segment's start).
 */
export interface GapOutput {
  fromMs: number;
  toMs: number;
  reason: GapReason;
  /** Units received after the break and dropped while waiting for its first IDR. */
  droppedFrames: number;
  /** The segment the recording resumes with. */
  seq: number;
}

export interface SegmenterSink {
  init(out: InitOutput): void;
  part(out: PartOutput): void;
  segmentClosed(out: SegmentClosed): void;
  requestKeyframe(reason: string): void;
  /** Optional: a recording without a listener for gaps still gets its segments cut at them. */
  gap?(out: GapOutput): void;
}

export interface SegmenterStats {
  /** Breaks after which the recording resumed (or still waits to). */
  gaps: number;
  /** Units dropped after breaks while waiting for the first IDR. */
  droppedAtBreaks: number;
}

interface Sample {
  data: Uint8Array;
  dts: number;
  duration: number;
  isSync: boolean;
}

const VIDEO_TRACK = 1;
const AUDIO_TRACK = 2;
/** Opus frames are 20 ms unless told otherwise (a stream's last frame has no successor). */
const OPUS_DEFAULT_TICKS = 960;
/** AAC-LC's frame, when the config does not say otherwise. */
const AAC_DEFAULT_TICKS = 1024;

/** The audio track's fMP4 entry, its clock (= timescale) and the duration of a frame with no successor. */
function audioTrack(a: SegmenterAudio): { entry: InitAudioTrack; clockHz: number; lastFrameTicks: number; codecString: string } {
  if (a.codec !== "aac") {
    return { entry: { trackId: AUDIO_TRACK, timescale: OPUS_CLOCK_HZ, codec: "opus", channels: a.channels, sampleRate: OPUS_CLOCK_HZ, preSkip: 312 }, clockHz: OPUS_CLOCK_HZ, lastFrameTicks: OPUS_DEFAULT_TICKS, codecString: "opus" };
  }
  // The timescale is the RTP clock, so AU durations are the RTP time between frames, as for Opus.
  let sampleRate = a.sampleRate;
  let lastFrameTicks = AAC_DEFAULT_TICKS;
  let codecString = "mp4a.40.2";
  try {
    const cfg = parseAacConfig(a.config);
    sampleRate = cfg.sampleRate;
    lastFrameTicks = aacFrameTicks(cfg, a.sampleRate);
    codecString = cfg.codecString;
  } catch {
    // Ingest checked the config already; a decoder reads it from the esds either way.
  }
  return { entry: { trackId: AUDIO_TRACK, timescale: a.sampleRate, codec: "aac", channels: a.channels, sampleRate, config: a.config }, clockHz: a.sampleRate, lastFrameTicks, codecString };
}

/**
 * Turns a live stream's frames into fMP4: an init segment per distinct SPS, segments that start
 * only at IDR frames, each cut into parts of about `partDurationMs` (the parts need not start at
 * an IDR). Decode times come from RTP time, continuous across parts, segments and init changes.
 *
 * A break (a unit flagged `discontinuity`, or a video hole past the gap threshold) closes the
 * open segment at the last frame before it (its last sample lasts one normal frame, not the
 * hole); the recording goes on with a new segment at the first IDR after it (units before that
 * are dropped, counted, and an IDR is asked for). The hole stays in the decode timeline at its
 * real length, so the new segment's tfdt and start are the real later ones, and the sink is told
 * the gap. Pure: no I/O, output goes to the sink synchronously.
 */
export class Segmenter {
  private inits: { sps: Uint8Array; pps: Uint8Array; info: H264SpsInfo }[] = [];
  private startWallMs: number | undefined;
  private waitingForKeyframe = true;
  // Video timeline: dts = rtpTime + videoOffset.
  private videoOffset = 0;
  private lastVideoDts = -1;
  private lastVideoDuration = 3000;
  private pendingVideo: Sample | undefined;
  // Audio timeline: dts = rtpTime + audioOffset, fixed at the first accepted frame.
  private audioOffset: number | undefined;
  private pendingAudio: Sample | undefined;
  private partVideo: Sample[] = [];
  private partAudio: Sample[] = [];
  private seq = -1;
  private part = 0;
  private segStartDts = 0;
  /** Wall clock at which the open segment is due, when aligned to the wall clock. */
  private segDueWallMs = Infinity;
  private partStartDts = 0;
  private segKeyframeRequested = false;
  private lastRequestDts = 0;
  private fragmentNumber = 1;
  private pendingSegmentStart: PartOutput["segmentStart"];
  /** Set from a break until the first IDR after it opens the next segment. */
  private broken: { fromMs: number; reason: GapReason; dropped: number } | undefined;
  /** Audio waits for the resumed segment, then is re-anchored to it (see `audio`). */
  private audioResync = false;
  private readonly counts: SegmenterStats = { gaps: 0, droppedAtBreaks: 0 };
  private readonly audioInfo: ReturnType<typeof audioTrack> | undefined;
  /** Breaks and init changes so far; the next segment opened after one carries the new count. */
  private discontinuity = 0;

  constructor(
    private readonly opts: SegmenterOptions,
    private readonly sink: SegmenterSink,
  ) {
    this.audioInfo = opts.audio ? audioTrack(opts.audio) : undefined;
  }

  get recordingStartMs(): number | undefined {
    return this.startWallMs;
  }

  get stats(): SegmenterStats {
    return { ...this.counts };
  }

  /** `droppedBefore`: frames lost just before this one (reader queue overflow or upstream loss). */
  video(au: VideoAccessUnit, droppedBefore = 0): void {
    if (this.seq >= 0 && !this.broken) {
      const reason = au.discontinuity ? "discontinuity" : this.isHole(au.rtpTime + this.videoOffset) ? "time-hole" : undefined;
      if (reason) this.breakAtLastFrame(reason);
    }
    if (droppedBefore > 0 && this.inits.length > 0) this.waitingForKeyframe = true;
    if (this.waitingForKeyframe || this.broken) {
      if (!au.isKeyframe || !au.sps || !au.pps) {
        if (this.broken) {
          this.broken.dropped++;
          this.counts.droppedAtBreaks++;
        }
        this.sink.requestKeyframe(this.inits.length === 0 ? "recording start" : this.broken ? "recording resume after break" : "recording resync after loss");
        return;
      }
      this.waitingForKeyframe = false;
    }
    const initChanged = au.isKeyframe && au.sps && au.pps && !this.sameInit(au.sps, au.pps);

    if (this.startWallMs === undefined) {
      this.startWallMs = au.wallClockMs;
      this.videoOffset = -au.rtpTime;
    }
    let dts = au.rtpTime + this.videoOffset;
    if (this.lastVideoDts >= 0 && dts <= this.lastVideoDts) {
      // Time went backwards without a break (reordered or restarted clock within the jump
      // limit): keep the timeline moving forward by one nominal frame step.
      this.videoOffset += this.lastVideoDts + this.lastVideoDuration - dts;
      dts = this.lastVideoDts + this.lastVideoDuration;
    }
    const broken = this.broken;
    if (broken) {
      this.broken = undefined;
      if (initChanged) this.addInit(au);
      this.discontinuity++;
      this.openSegment(dts, au.wallClockMs);
      const toMs = this.mediaMs(dts);
      this.sink.gap?.({ fromMs: broken.fromMs, toMs, reason: broken.reason, droppedFrames: broken.dropped, seq: this.seq });
      this.audioResync = true;
      this.pendingVideo = { data: toAvcc(sampleNalus(au)), dts, duration: 0, isSync: true };
      this.lastVideoDts = dts;
      return;
    }
    this.flushPendingVideo(dts);

    const segElapsedMs = ((dts - this.segStartDts) * 1000) / VIDEO_CLOCK_HZ;
    const lead = this.opts.keyframeRequestLeadMs;
    // The cap counts media time: a wall clock re-anchored far back must not hold a segment open.
    const due = segElapsedMs >= this.opts.maxSegmentDurationMs - lead || (this.opts.alignToWallClock
      ? au.wallClockMs >= this.segDueWallMs - lead
      : segElapsedMs >= this.opts.segmentDurationMs - lead);
    if (initChanged) {
      this.closeSegment(dts);
      this.addInit(au);
      if (this.seq >= 0) this.discontinuity++;
      this.openSegment(dts, au.wallClockMs);
    } else if (this.seq < 0) {
      this.openSegment(dts, au.wallClockMs);
    } else if (au.isKeyframe && due) {
      this.closeSegment(dts);
      this.openSegment(dts, au.wallClockMs);
    } else {
      if (due) this.maybeRequestKeyframe(dts);
      if (((dts - this.partStartDts) * 1000) / VIDEO_CLOCK_HZ >= this.opts.partDurationMs) this.closePart(dts);
    }
    this.pendingVideo = { data: toAvcc(sampleNalus(au)), dts, duration: 0, isSync: au.isKeyframe };
    this.lastVideoDts = dts;
  }

  audio(frame: AudioFrame): void {
    if (this.startWallMs === undefined || this.seq < 0 || this.broken || !this.audioInfo) return;
    // A track carries one codec: a frame of another (a publisher that changed codec) cannot go in it.
    if (frame.codec !== this.audioInfo.entry.codec) return;
    const clockHz = this.audioInfo.clockHz;
    if (this.audioOffset === undefined || this.audioResync) {
      // Audio follows video on the wall clock: at the start and again after a break, where the
      // two tracks resume independently (the first audio frame after it may precede the IDR).
      const startTicks = Math.round(((frame.wallClockMs - this.startWallMs) * clockHz) / 1000);
      const segStartTicks = Math.round((this.segStartDts * clockHz) / VIDEO_CLOCK_HZ);
      if (this.audioResync && startTicks < segStartTicks) return; // before the resumed segment's IDR
      this.audioOffset = Math.max(0, startTicks) - frame.rtpTime;
      this.audioResync = false;
    }
    const dts = frame.rtpTime + this.audioOffset;
    const pending = this.pendingAudio;
    if (pending) {
      if (dts <= pending.dts) return; // late or duplicate frame: the timeline only moves forward
      const d = dts - pending.dts;
      // The hole is kept (lost packets, DTX): the decoder conceals it, and audio stays on its RTP
      // time. Publisher restarts reach here already re-based onto the wall clock (TrackTimeline).
      pending.duration = d;
      this.partAudio.push(pending);
    }
    this.pendingAudio = { data: frame.data, dts, duration: 0, isSync: true };
  }

  /** End of stream: everything received goes out, the open segment is closed. */
  finish(): void {
    if (this.seq < 0 || this.broken) return; // after a break the segment is already closed
    if (this.pendingVideo) this.closeAtLastFrame();
  }

  /** Whether stream time `dts` lies so far past the last frame that the frames between are missing. */
  private isHole(dts: number): boolean {
    if (this.lastVideoDts < 0) return false;
    const thresholdMs = Math.max(this.opts.gapThresholdMs ?? DEFAULT_GAP_THRESHOLD_MS, (GAP_MIN_FRAME_INTERVALS * this.lastVideoDuration * 1000) / VIDEO_CLOCK_HZ);
    return ((dts - this.lastVideoDts) * 1000) / VIDEO_CLOCK_HZ > thresholdMs;
  }

  /** Closes the open segment at its last frame, which gets a normal frame's duration; waits for an IDR. */
  private breakAtLastFrame(reason: GapReason): void {
    const fromMs = this.mediaMs(this.lastVideoDts);
    this.closeAtLastFrame();
    this.broken = { fromMs, reason, dropped: 0 };
    this.counts.gaps++;
    this.sink.requestKeyframe("recording resume after break");
  }

  private closeAtLastFrame(): void {
    const pending = this.pendingVideo;
    if (!pending) return;
    const end = pending.dts + this.lastVideoDuration;
    this.flushPendingVideo(end);
    if (this.pendingAudio) {
      this.pendingAudio.duration = this.audioInfo?.lastFrameTicks ?? OPUS_DEFAULT_TICKS;
      this.partAudio.push(this.pendingAudio);
      this.pendingAudio = undefined;
    }
    this.closeSegment(end);
  }

  /** Epoch ms of a decode time, on the recording's one clock mapping (as segment starts). */
  private mediaMs(dts: number): number {
    return (this.startWallMs ?? 0) + (dts * 1000) / VIDEO_CLOCK_HZ;
  }

  private sameInit(sps: Uint8Array, pps: Uint8Array): boolean {
    const current = this.inits[this.inits.length - 1];
    return current !== undefined && Buffer.compare(current.sps, sps) === 0 && Buffer.compare(current.pps, pps) === 0;
  }

  private addInit(au: VideoAccessUnit): void {
    const sps = au.sps as Uint8Array;
    const pps = au.pps as Uint8Array;
    const info = parseH264Sps(sps);
    this.inits.push({ sps, pps, info });
    const data = buildInitSegment({
      video: {
        trackId: VIDEO_TRACK,
        timescale: VIDEO_CLOCK_HZ,
        entries: [{ sps: [sps], pps: [pps], width: info.width, height: info.height }],
      },
      ...(this.audioInfo ? { audio: this.audioInfo.entry } : {}),
    });
    this.sink.init({ index: this.inits.length - 1, data, sps: info, ...(this.audioInfo ? { audioCodec: this.audioInfo.codecString } : {}) });
  }

  private flushPendingVideo(nextDts: number): void {
    const p = this.pendingVideo;
    if (!p) return;
    p.duration = nextDts - p.dts;
    if (p.duration > 0) this.lastVideoDuration = p.duration;
    else p.duration = this.lastVideoDuration;
    this.partVideo.push(p);
    this.pendingVideo = undefined;
  }

  private openSegment(dts: number, wallMs: number): void {
    if (this.inits.length === 0) {
      // First keyframe: the recording starts here. (addInit needs the unit's SPS; `video` passes it.)
      throw new Error("openSegment before init");
    }
    this.seq++;
    this.part = 0;
    this.segStartDts = dts;
    this.partStartDts = dts;
    this.segKeyframeRequested = false;
    const d = this.opts.segmentDurationMs;
    // The next boundary at least half a segment away, so no segment is a sliver.
    this.segDueWallMs = Math.ceil((wallMs + d / 2) / d) * d;
    // One clock mapping per recording (first frame's wall clock + media time): re-anchoring on
    // each sender report made consecutive starts disagree with durations by up to a second,
    // which broke span lookups and HLS PROGRAM-DATE-TIME.
    const startMs = this.startWallMs === undefined ? wallMs : this.mediaMs(dts);
    this.pendingSegmentStart = { startMs, startDts: dts, init: this.inits.length - 1, discontinuity: this.discontinuity };
  }

  private maybeRequestKeyframe(dts: number): void {
    // Ask once when the segment is due, then again each second the IDR is still missing.
    if (!this.segKeyframeRequested || dts - this.lastRequestDts >= VIDEO_CLOCK_HZ) {
      this.segKeyframeRequested = true;
      this.lastRequestDts = dts;
      this.sink.requestKeyframe("segment due");
    }
  }

  private closePart(endDts: number): void {
    if (this.partVideo.length === 0 && this.partAudio.length === 0) return;
    const tracks = [];
    if (this.partVideo.length > 0) {
      tracks.push({
        trackId: VIDEO_TRACK,
        baseMediaDecodeTime: (this.partVideo[0] as Sample).dts,
        samples: this.partVideo.map((s) => ({ data: s.data, duration: s.duration, isSync: s.isSync })),
      });
    }
    if (this.partAudio.length > 0) {
      tracks.push({
        trackId: AUDIO_TRACK,
        baseMediaDecodeTime: (this.partAudio[0] as Sample).dts,
        samples: this.partAudio.map((s) => ({ data: s.data, duration: s.duration, isSync: true })),
      });
    }
    const data = buildMediaFragment({ sequenceNumber: this.fragmentNumber++, tracks });
    const independent = this.partVideo[0]?.isSync ?? false;
    const out: PartOutput = {
      seq: this.seq,
      part: this.part,
      data,
      durationMs: ((endDts - this.partStartDts) * 1000) / VIDEO_CLOCK_HZ,
      independent,
      ...(this.part === 0 && this.pendingSegmentStart ? { segmentStart: this.pendingSegmentStart } : {}),
    };
    this.partVideo = [];
    this.partAudio = [];
    this.part++;
    this.partStartDts = endDts;
    this.sink.part(out);
  }

  private closeSegment(endDts: number): void {
    if (this.seq < 0) return;
    this.closePart(endDts);
    this.sink.segmentClosed({ seq: this.seq, durationMs: ((endDts - this.segStartDts) * 1000) / VIDEO_CLOCK_HZ });
  }
}

/**
 * The NAL units stored for a unit. Every IDR sample starts with the stream's current SPS and
 * PPS even though the init's avcC has them too: a decoder reading across a resolution change
 * (playback of a span, a player that keeps the first init) then switches on the in-band
 * parameter sets. A second stsd entry would be the textbook way, but ffmpeg 5.1 does not apply
 * it mid-stream (measured: corrupt frames at the switch). AUDs carry nothing an MP4 reader needs.
 */
function sampleNalus(au: VideoAccessUnit): Uint8Array[] {
  const out: Uint8Array[] = au.isKeyframe && au.sps && au.pps ? [au.sps, au.pps] : [];
  for (const n of au.nalus) {
    const t = nalType(n);
    if (t !== NAL_TYPE.SPS && t !== NAL_TYPE.PPS && t !== NAL_TYPE.AUD) out.push(n);
  }
  return out;
}
