/**
 * RTP packets from a socket → access units on a stream's hub: the WHIP session's media path
 * for transports with no WebRTC stack under them (an RTSP publisher, a pulled RTSP camera).
 */
import type { Logger } from "pino";
import type { StreamTracks } from "../core/stream-hub.js";
import type { LiveStream, SessionStats } from "../core/stream-registry.js";
import { H264Depacketizer } from "../media/h264-depacketizer.js";
import { DEFAULT_OPUS_REORDER_WINDOW, OpusDepacketizer } from "../media/opus-depacketizer.js";
import { parseRtpPacket, senderReports } from "../media/rtp-packet.js";
import type { AudioFrame, H264SpsInfo, VideoAccessUnit } from "../media/types.js";
import { RateMeter } from "./rate-meter.js";
import { RtpWallClock } from "./rtp-clock.js";

/** One RTP track as its SDP describes it (RTSP ANNOUNCE, or a camera's DESCRIBE answer). */
export interface RtpTrackSpec {
  kind: "video" | "audio";
  codec: "h264" | "opus" | "aac";
  payloadType: number;
  clockRate: number;
  channels: number;
  sps?: Uint8Array;
  pps?: Uint8Array;
  profileLevelId?: string;
  aac?: { config: Uint8Array; sizeLength: number; indexLength: number; indexDeltaLength: number };
}

export interface RtpTracksIngestOptions {
  /** IFC_REORDER_WINDOW_PACKETS (audio uses the smaller of it and the Opus default). */
  reorderWindowPackets: number;
  /** IFC_CLOCK_DRIFT_TOLERANCE_MS */
  clockDriftToleranceMs: number;
}

/** What a track's packets go through; `undefined` depacketizer: counted and dropped. */
interface Track {
  readonly spec: RtpTrackSpec;
  /** Published to the hub (the first video and the first audio track); the rest are counted only. */
  readonly primary: boolean;
  readonly clock: RtpWallClock;
  readonly video?: H264Depacketizer;
  readonly opus?: OpusDepacketizer;
  /** Packets that reached no depacketizer (a secondary track, a codec not wired yet). */
  ignored: number;
}

/**
 * Several RTP tracks of one publisher (SDP order) into one live stream. The packet path
 * (`pushRtp`) is synchronous and allocates only what the depacketizers need: the parsed view of
 * the packet, and the access unit when one completes. Only the first video and the first audio
 * track are published (a hub carries one of each); packets of other tracks and malformed ones
 * are counted and dropped.
 */
export class RtpTracksIngest {
  private readonly tracks: Track[];
  private readonly videoIndex: number;
  private readonly audioIndex: number;
  private stream: LiveStream | undefined;
  private last = 0;
  private malformed = 0;
  private keyframeNeeds = 0;
  private sps: H264SpsInfo | undefined;
  private readonly bitrate = new RateMeter(2000);
  private readonly frameRate = new RateMeter(2000);

  constructor(
    tracks: readonly RtpTrackSpec[],
    private readonly opts: RtpTracksIngestOptions,
    private readonly log: Logger,
  ) {
    this.videoIndex = tracks.findIndex((t) => t.kind === "video" && t.codec === "h264");
    this.audioIndex = tracks.findIndex((t) => t.kind === "audio");
    this.tracks = tracks.map((spec, i) => this.makeTrack(spec, i === this.videoIndex || i === this.audioIndex));
  }

  private makeTrack(spec: RtpTrackSpec, primary: boolean): Track {
    const clock = new RtpWallClock(spec.clockRate, { driftToleranceMs: this.opts.clockDriftToleranceMs });
    if (!primary) return { spec, primary, clock, ignored: 0 };
    if (spec.codec === "h264") {
      const video = new H264Depacketizer({
        reorderWindowPackets: this.opts.reorderWindowPackets,
        onAccessUnit: (au) => this.onAccessUnit(au, clock),
        // RTSP has no PLI path to most publishers (ffmpeg, cameras ignore RTCP feedback): the
        // depacketizer waits for the encoder's next periodic IDR. Counted for the stats.
        onKeyframeNeeded: () => {
          this.keyframeNeeds++;
        },
        onParameterSetsChanged: (info) => {
          if (this.sps) this.log.info({ width: info.width, height: info.height, codec: info.codecString }, "video parameters changed");
          this.sps = info;
          const v = this.stream?.hub.tracks.video;
          if (v) v.sps = info;
        },
      });
      if (spec.sps && spec.pps) {
        // Out-of-band parameter sets (sprop-parameter-sets): publishers that send them only in SDP.
        try {
          video.setParameterSets(spec.sps, spec.pps);
        } catch (err) {
          this.log.warn({ err }, "sprop-parameter-sets: the SPS does not parse; waiting for in-band parameter sets");
        }
      }
      return { spec, primary, clock, video, ignored: 0 };
    }
    if (spec.codec === "opus") {
      const opus = new OpusDepacketizer({
        // Audio waits less for a late packet than video (as WhipSession).
        reorderWindowPackets: Math.min(this.opts.reorderWindowPackets, DEFAULT_OPUS_REORDER_WINDOW),
        onFrame: (frame) => this.onAudioFrame(frame, clock),
      });
      return { spec, primary, clock, opus, ignored: 0 };
    }
    // TODO(aac merge): the AAC depacketizer (src/media/aac-depacketizer.ts) lands with the aac
    // branch; until then an AAC track's packets are counted and dropped.
    return { spec, primary, clock, ignored: 0 };
  }

  /** What to claim the stream with (`StreamRegistry.claim`): the first video and first audio track. */
  get streamTracks(): StreamTracks {
    const v = this.tracks[this.videoIndex]?.spec;
    const a = this.tracks[this.audioIndex]?.spec;
    const tracks: StreamTracks = {};
    if (v) tracks.video = { codec: "h264", ...(this.sps ? { sps: this.sps } : {}), ...(v.profileLevelId ? { profileLevelId: v.profileLevelId } : {}) };
    if (a?.codec === "opus") tracks.audio = { codec: "opus", channels: a.channels, sampleRate: a.clockRate };
    else if (a?.codec === "aac" && a.aac) tracks.audio = { codec: "aac", channels: a.channels, sampleRate: a.clockRate, config: a.aac.config };
    return tracks;
  }

  /** Publishes into `stream` from now on (its timelines map the units, as WhipSession does). */
  attach(stream: LiveStream): void {
    this.stream = stream;
    const v = stream.hub.tracks.video;
    if (v && this.sps) v.sps = this.sps;
  }

  /** Stops publishing (packets still arriving are counted, not published). */
  detach(): void {
    this.stream = undefined;
  }

  /** One RTP packet of track `index` (SDP order); synchronous, never awaits; bad packets are counted and dropped. */
  pushRtp(index: number, packet: Buffer, nowMs: number): void {
    const track = this.tracks[index];
    const rtp = track ? parseRtpPacket(packet) : undefined;
    if (!track || !rtp) {
      this.malformed++;
      return;
    }
    this.last = nowMs;
    this.bitrate.add(rtp.payload.length * 8, nowMs);
    const h = rtp.header;
    if (track.video) {
      track.clock.start(h.timestamp, nowMs);
      track.video.push(h.sequenceNumber, h.timestamp, h.marker, rtp.payload, nowMs);
      this.stream?.hub.publishRtp("video", rtp);
    } else if (track.opus) {
      track.clock.start(h.timestamp, nowMs);
      track.opus.push(h.sequenceNumber, h.timestamp, rtp.payload, nowMs);
      this.stream?.hub.publishRtp("audio", rtp);
    } else {
      track.ignored++;
    }
  }

  /** An RTCP compound packet of track `index`: sender reports anchor capture wall clock. */
  pushRtcp(index: number, packet: Buffer, _nowMs: number): void {
    const track = this.tracks[index];
    if (!track) return;
    for (const sr of senderReports(packet)) track.clock.onSenderReport(sr.ntpTimestamp, sr.rtpTimestamp);
  }

  /** Epoch ms of the last RTP packet (0: none yet). */
  get lastMediaAt(): number {
    return this.last;
  }

  /** Packets dropped unparsed (not RTP, or for a track index not set up). */
  get malformedPackets(): number {
    return this.malformed;
  }

  /** Packets of tracks that are not published (a second video track, AAC until its depacketizer lands). */
  get ignoredPackets(): number {
    let n = 0;
    for (const t of this.tracks) n += t.ignored;
    return n;
  }

  /** The media figures of SessionStats (the session adds protocol, ids and times). */
  stats(): Pick<SessionStats, "video" | "audio" | "bitrateBps" | "packetsReceived" | "packetsLost" | "framesReceived" | "framesDropped" | "keyframeRequests"> {
    const video = this.tracks[this.videoIndex]?.video;
    const audio = this.tracks[this.audioIndex];
    let received = this.malformed;
    let lost = 0;
    for (const t of this.tracks) {
      received += t.ignored;
      if (t.video) {
        received += t.video.packetsReceived;
        lost += t.video.packetsLost;
      } else if (t.opus) {
        received += t.opus.packetsReceived;
        lost += t.opus.packetsLost;
      }
    }
    const sps = this.sps;
    return {
      ...(this.videoIndex >= 0
        ? {
            video: {
              codec: sps?.codecString ?? "avc1",
              ...(sps ? { width: sps.width, height: sps.height, profile: sps.profileIdc, level: sps.levelIdc } : {}),
              fps: Math.round(this.frameRate.perSecond() * 10) / 10,
            },
          }
        : {}),
      ...(audio ? { audio: { codec: audio.spec.codec === "aac" ? "mp4a.40.2" : "opus", sampleRate: audio.spec.clockRate, channels: audio.spec.channels } } : {}),
      bitrateBps: Math.round(this.bitrate.perSecond()),
      packetsReceived: received,
      packetsLost: lost,
      framesReceived: video?.unitsEmitted ?? 0,
      framesDropped: video?.unitsDropped ?? 0,
      // No PLI goes to an RTSP publisher: how often a keyframe was needed (and waited for).
      keyframeRequests: this.keyframeNeeds,
    };
  }

  private onAccessUnit(au: VideoAccessUnit, clock: RtpWallClock): void {
    // The wall clock follows the track's own RTP clock; readers get stream time.
    au.wallClockMs = clock.wallMs(au.rtpTime, au.arrivalMs);
    this.frameRate.add(1, au.arrivalMs);
    const stream = this.stream;
    if (!stream) return;
    const timeline = stream.timelines.video;
    au.rtpTime = timeline.map(au.rtpTime, au.arrivalMs);
    if (timeline.discontinuity) au.discontinuity = true;
    stream.hub.publish(au);
  }

  private onAudioFrame(frame: AudioFrame, clock: RtpWallClock): void {
    frame.wallClockMs = clock.wallMs(frame.rtpTime, frame.arrivalMs);
    const stream = this.stream;
    if (!stream) return;
    const timeline = stream.timelines.audio;
    frame.rtpTime = timeline.map(frame.rtpTime, frame.arrivalMs);
    if (timeline.discontinuity) frame.discontinuity = true;
    stream.hub.publish(frame);
  }
}
