import type { Logger } from "pino";
import type { ReaderHandle, StreamHub } from "../core/stream-hub.js";
import { NAL_TYPE, nalType } from "../media/h264-nal.js";
import { parseH264Sps } from "../media/h264-sps.js";
import { VIDEO_CLOCK_HZ, type MediaFrame, type VideoAccessUnit } from "../media/types.js";
import { accessUnitToAnnexB } from "./annexb-writer.js";
import { AuFifo } from "./au-fifo.js";
import { nowMs, type DecodedFrame, type DecodedFrameConsumer, type DecodedPixelFormat, type OutputSpec } from "./decoded-frame.js";
import { decoderArgs, outputGeometry, rawFrameBytes, type OutputGeometry } from "./decoder-args.js";
import { DecoderProcess } from "./decoder-process.js";
import { FrameSampler } from "./frame-sampler.js";
import { JpegFrameSplitter, RawFrameSplitter } from "./frame-splitter.js";
import { grayFromRgb } from "../media/gray-from-rgb.js";
import { keepEvery, SourceRateMeter } from "./source-rate.js";

export interface StreamDecoderOptions {
  ffmpegPath: string;
  log: Logger;
  /** The decoder's hub reader queue, in access units: beyond it the hub drops (and we wait for an IDR). */
  readerCapacity?: number;
  /** Bytes queued to ffmpeg's stdin beyond which access units are dropped until the next IDR. */
  maxStdinBytes?: number;
  /** Delay before restarting a crashed ffmpeg: doubles from min to max; reset after 10 s of good running. */
  restartBackoffMinMs?: number;
  restartBackoffMaxMs?: number;
  /** mjpeg quality (-q:v), 2 best .. 31. */
  jpegQuality?: number;
  /** Out-of-step detection (see AuFifo): units and ms without the FIFO ever emptying. */
  desyncUnits?: number;
  desyncMs?: number;
  /**
   * A video hole longer than this without a `discontinuity` flag is a break too (an ICE-restart
   * resume): decoding waits for the next IDR rather than feed P-frames whose references may be
   * lost. Default DEFAULT_DECODER_GAP_MS, the recorder's gap threshold.
   */
  gapThresholdMs?: number;
}

/** See `StreamDecoderOptions.gapThresholdMs`. */
export const DEFAULT_DECODER_GAP_MS = 2000;

export interface SubscribeOptions {
  /** At most this rate (capped by the decoder's); default the decoder's. */
  fps?: number;
  /** gray8 from an rgb24 decoder is converted here; other mismatches are refused. */
  format?: DecodedPixelFormat;
}

export interface StreamDecoderStats {
  stream: string;
  /** The live ffmpeg's pid, if one runs. */
  pid: number | undefined;
  /** Every pid this decoder has spawned that has not exited yet (normally at most one; briefly two across a restart). */
  livePids: number[];
  output: { width: number; height: number; format: DecodedPixelFormat; keepEvery: number } | undefined;
  /** Measured from RTP timestamps. */
  sourceFps: number | undefined;
  source: { width: number; height: number } | undefined;
  unitsIn: number;
  unitsWritten: number;
  framesOut: number;
  framesDelivered: number;
  dropped: {
    /** Units the hub dropped because this reader's queue was full. */
    hubQueue: number;
    /** Units skipped while waiting for an IDR (start, after a drop or a resync, restart backoff). */
    waitingForIdr: number;
    /** Units dropped because ffmpeg's stdin was full. */
    backpressure: number;
    badParameterSets: number;
    /** Frames out of ffmpeg with no unit pending (then resynchronized). */
    unpairedFrames: number;
    /** Frame deliveries skipped across a format change. */
    formatMismatch: number;
  };
  restarts: number;
  /** Breaks in the stream (a flagged discontinuity, or a hole past the gap threshold) decoding resumed after, at an IDR. */
  breaks: number;
  /** From writing the first IDR after the last break to delivering its frame (ms); undefined before any break. */
  resumeToFrameMs: number | undefined;
  crashes: number;
  decodeErrors: number;
  desyncs: number;
  /** Times ffmpeg fell so far behind that input paused until the next IDR. */
  lagging: number;
  consumerErrors: number;
  fifoDepth: number;
  stdinQueuedBytes: number;
}

interface UnitMeta {
  rtpTime: number;
  arrivalMs: number;
  wallClockMs: number;
  keyframe: boolean;
}

interface Subscription {
  consumer: DecodedFrameConsumer;
  requestedFps: number | undefined;
  format: DecodedPixelFormat | undefined;
  sampler: FrameSampler;
}

/** One ffmpeg process and what pairs its output with its input. */
interface Session {
  proc: DecoderProcess;
  fifo: AuFifo<UnitMeta>;
  geometry: OutputGeometry;
  source: OutputGeometry;
  format: DecodedPixelFormat;
  /** ffmpeg outputs one decoded frame in this many: units written with index % keepEvery === 0. */
  keepEvery: number;
  written: number;
  /** Last frame out (or the start): an idle decoder with units pending has lost frames. */
  lastOutputMs: number;
  /** Input paused until the next IDR so that a lagging ffmpeg can catch up. */
  catchingUp: boolean;
  /** Its output can no longer be trusted to match its FIFO: ignored until it exits. */
  discard: boolean;
}

type RestartReason = "start" | "resolution-change" | "output-change" | "rate-change" | "crash" | "decode-error" | "desync" | "extra-frame";

const VALID_FORMATS: readonly DecodedPixelFormat[] = ["gray8", "rgb24", "jpeg"];

export function validateOutputSpec(spec: OutputSpec): void {
  if (!(spec.fps > 0 && spec.fps <= 240)) throw new RangeError(`fps must be in (0, 240], got ${spec.fps}`);
  if (!(Number.isInteger(spec.maxHeight) && spec.maxHeight >= 2 && spec.maxHeight <= 8640)) throw new RangeError(`maxHeight must be an integer in [2, 8640], got ${spec.maxHeight}`);
  if (!VALID_FORMATS.includes(spec.format)) throw new RangeError(`format must be one of ${VALID_FORMATS.join(", ")}`);
}

/**
 * The one decoder of a live stream: a reader on the stream's hub that feeds access units, from
 * an IDR on, to one ffmpeg child, and hands each decoded frame — paired with its access unit's
 * timestamps through a FIFO (ffmpeg emits exactly one frame per unit, in order, or one per
 * `keepEvery` units when it decimates) — to every subscriber through its own sampler.
 *
 * The hub reader never waits: writes to ffmpeg are queued, and beyond `maxStdinBytes` units are
 * dropped (counted) until the next IDR. ffmpeg is restarted from an IDR when the resolution,
 * the output or the needed decimation changes (the old process finishes its frames), after a
 * crash (with backoff), after a unit it could not decode, and when its output proved out of step
 * (see AuFifo: a lagging ffmpeg is first given until the next IDR to catch up, without restart).
 * Every wait for an IDR asks the publisher for one: Chromium sends none on its own.
 */
export class StreamDecoder {
  private readonly log: Logger;
  private readonly reader: ReaderHandle;
  private readonly stopListeningForClose: () => void;
  private readonly subs = new Set<Subscription>();
  private readonly livePids = new Set<number>();
  private spec: OutputSpec;
  /** The process fed now; a replaced one may still be flushing its last frames. */
  private current: Session | undefined;
  /** The last session started: its output shape stays in the stats after it ended. */
  private lastSession: Session | undefined;
  private needIdr = true;
  private restartReason: RestartReason | undefined = "start";
  private lastSps: Uint8Array | undefined;
  private readonly sourceRate = new SourceRateMeter();
  /** The SPS's VUI frame rate, used until enough timestamps were seen. */
  private spsFps: number | undefined;
  private source: OutputGeometry | undefined;
  private started = 0;
  private sequence = 0;
  private consecutiveCrashes = 0;
  private backoffUntilMs = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  /** RTP time of the last video unit in, for hole detection. */
  private lastRtpTime: number | undefined;
  /** Set at a break; the first IDR after it is timed to its decoded frame (resumeToFrameMs). */
  private resumePending = false;
  private resumeIdr: { rtpTime: number; writtenAtMs: number } | undefined;
  private resumeToFrameMs: number | undefined;
  private readonly c = {
    unitsIn: 0, unitsWritten: 0, framesOut: 0, framesDelivered: 0,
    hubQueue: 0, waitingForIdr: 0, backpressure: 0, badParameterSets: 0, unpairedFrames: 0, formatMismatch: 0,
    restarts: 0, breaks: 0, crashes: 0, decodeErrors: 0, desyncs: 0, lagging: 0, consumerErrors: 0,
  };

  constructor(
    private readonly hub: StreamHub,
    spec: OutputSpec,
    private readonly opts: StreamDecoderOptions,
  ) {
    validateOutputSpec(spec);
    this.spec = { ...spec };
    this.log = opts.log.child({ stream: hub.name, component: "decoder" });
    this.reader = hub.attach("decoder", (frame, droppedBefore) => this.onMedia(frame, droppedBefore), opts.readerCapacity ?? 64);
    this.stopListeningForClose = hub.onClose(() => void this.close());
    hub.requestKeyframe("decoder started");
  }

  get stream(): string {
    return this.hub.name;
  }

  get outputSpec(): OutputSpec {
    return { ...this.spec };
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Adds a consumer; returns its unsubscribe function. */
  subscribe(consumer: DecodedFrameConsumer, o: SubscribeOptions = {}): () => void {
    if (o.fps !== undefined && !(o.fps > 0)) throw new RangeError(`fps must be > 0, got ${o.fps}`);
    if (o.format !== undefined && !this.formatServes(this.spec.format, o.format)) {
      throw new RangeError(`a ${this.spec.format} decoder cannot serve ${o.format} frames`);
    }
    const sub: Subscription = { consumer, requestedFps: o.fps, format: o.format, sampler: new FrameSampler(Math.min(o.fps ?? this.spec.fps, this.spec.fps)) };
    this.subs.add(sub);
    return () => void this.subs.delete(sub);
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  /**
   * Changes rate, size or format. A rate change applies at once (it is Node-side sampling);
   * a size or format change restarts ffmpeg at the next IDR (one is requested), frames keep
   * coming in the old output until then.
   */
  setOutput(spec: OutputSpec): void {
    validateOutputSpec(spec);
    const old = this.spec;
    this.spec = { ...spec };
    if (spec.fps !== old.fps) {
      for (const s of this.subs) s.sampler.setFps(Math.min(s.requestedFps ?? spec.fps, spec.fps));
      // ffmpeg's decimation changes at the next IDR (see atIdr); ask for one if it now delivers too few.
      const cur = this.current;
      const src = this.sourceFps();
      if (cur && src && src / cur.keepEvery < spec.fps * 0.95) this.hub.requestKeyframe("decoder rate changed");
    }
    if (spec.maxHeight !== old.maxHeight || spec.format !== old.format) {
      this.restartReason ??= "output-change";
      this.hub.requestKeyframe("decoder output changed");
    }
  }

  stats(): StreamDecoderStats {
    const c = this.c;
    const out = this.current ?? this.lastSession;
    return {
      stream: this.hub.name,
      pid: this.current?.proc.pid,
      livePids: [...this.livePids],
      output: out ? { width: out.geometry.width, height: out.geometry.height, format: out.format, keepEvery: out.keepEvery } : undefined,
      sourceFps: this.sourceFps(),
      source: this.source ? { ...this.source } : undefined,
      unitsIn: c.unitsIn,
      unitsWritten: c.unitsWritten,
      framesOut: c.framesOut,
      framesDelivered: c.framesDelivered,
      dropped: { hubQueue: c.hubQueue, waitingForIdr: c.waitingForIdr, backpressure: c.backpressure, badParameterSets: c.badParameterSets, unpairedFrames: c.unpairedFrames, formatMismatch: c.formatMismatch },
      restarts: c.restarts,
      breaks: c.breaks,
      resumeToFrameMs: this.resumeToFrameMs,
      crashes: c.crashes,
      decodeErrors: c.decodeErrors,
      desyncs: c.desyncs,
      lagging: c.lagging,
      consumerErrors: c.consumerErrors,
      fifoDepth: this.current?.fifo.depth ?? 0,
      stdinQueuedBytes: this.current?.proc.stdinQueuedBytes ?? 0,
    };
  }

  /**
   * Stops decoding. `flush` (the stream ended): units already queued are decoded and delivered
   * first; otherwise (no consumer left) ffmpeg is terminated at once. Resolves when it exited.
   */
  close(opts: { flush?: boolean } = {}): Promise<void> {
    this.closing ??= this.doClose(opts.flush ?? true);
    return this.closing;
  }

  private async doClose(flush: boolean): Promise<void> {
    if (flush) {
      // Our reader never waits, so its queue empties within a few ticks; drain() also waits for
      // the other readers, hence the cap.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.hub.drain(), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.reader.detach();
    this.stopListeningForClose();
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    const cur = this.current;
    if (cur) await cur.proc.stop(flush);
    this.current = undefined;
    this.subs.clear();
    this.log.debug({ ...this.stats() }, "decoder closed");
  }

  private formatServes(decoder: DecodedPixelFormat, wanted: DecodedPixelFormat): boolean {
    return decoder === wanted || (decoder === "rgb24" && wanted === "gray8");
  }

  // ---- input side (the hub reader; synchronous, never waits) ----

  private onMedia(frame: MediaFrame, droppedBefore: number): void {
    if (frame.kind !== "video" || this.closed) return;
    this.c.unitsIn++;
    const isBreak = frame.discontinuity === true || (this.lastRtpTime !== undefined && ((frame.rtpTime - this.lastRtpTime) * 1000) / VIDEO_CLOCK_HZ > (this.opts.gapThresholdMs ?? DEFAULT_DECODER_GAP_MS));
    if (isBreak) {
      // The publisher's network broke. ffmpeg keeps running (it reads raw H.264: the time jump
      // means nothing to it, and a new SPS restarts it in atIdr as always); it is fed again from
      // the first IDR after the break, so nothing decodes against references from before it.
      this.c.breaks++;
      this.resumePending = true;
      this.waitForIdr("stream break");
      this.sourceRate.resumeAt(frame.rtpTime);
    } else {
      this.sourceRate.observe(frame.rtpTime);
    }
    this.lastRtpTime = frame.rtpTime;
    if (droppedBefore > 0) {
      this.c.hubQueue += droppedBefore;
      this.waitForIdr("hub queue full");
    }
    const now = nowMs();
    if (frame.isKeyframe) {
      if (!this.atIdr(frame, now)) return;
    } else if (this.needIdr || !this.current) {
      this.c.waitingForIdr++;
      return;
    }
    const cur = this.current as Session;
    if (!cur.proc.canWrite()) {
      this.c.backpressure++;
      this.waitForIdr("decoder input full");
      return;
    }
    cur.proc.write(accessUnitToAnnexB(frame));
    if (this.resumePending && frame.isKeyframe) {
      this.resumePending = false;
      this.resumeIdr = { rtpTime: frame.rtpTime, writtenAtMs: now };
    }
    if (cur.written++ % cur.keepEvery === 0) cur.fifo.push({ rtpTime: frame.rtpTime, arrivalMs: frame.arrivalMs, wallClockMs: frame.wallClockMs, keyframe: frame.isKeyframe }, now);
    this.c.unitsWritten++;
    if (cur.fifo.desynced(now)) {
      // Behind for long, or out of step: not known yet. Stop feeding it until the next IDR;
      // there, an idle ffmpeg with units still pending has lost frames (see atIdr).
      this.c.lagging++;
      cur.catchingUp = true;
      this.waitForIdr("decoder lagging");
    }
  }

  /** At an IDR: (re)starts ffmpeg when needed. False when the unit must be dropped. */
  private atIdr(au: VideoAccessUnit, now: number): boolean {
    const sps = au.nalus.find((n) => nalType(n) === NAL_TYPE.SPS) ?? au.sps;
    if (sps && !bytesEqual(sps, this.lastSps)) {
      try {
        const info = parseH264Sps(sps);
        this.source = { width: info.width, height: info.height };
        this.spsFps = info.fps;
        this.lastSps = Uint8Array.prototype.slice.call(sps);
      } catch (err) {
        this.c.badParameterSets++;
        this.log.warn({ err: (err as Error).message }, "unreadable SPS: unit dropped");
        return false;
      }
    }
    const source = this.source;
    if (!source) {
      this.c.badParameterSets++;
      return false;
    }
    let cur = this.current;
    if (cur && (cur.source.width !== source.width || cur.source.height !== source.height)) this.restartReason = "resolution-change";
    if (cur?.catchingUp && !this.restartReason) {
      if (cur.fifo.depth === 0) {
        cur.catchingUp = false; // it caught up: go on with this process
      } else if (now - cur.lastOutputMs > 500 && cur.proc.stdinQueuedBytes === 0) {
        this.resync("desync", `decoder idle with ${cur.fifo.depth} units pending: frames were lost`);
        cur = undefined;
      } else {
        this.c.waitingForIdr++; // still working through its backlog
        return false;
      }
    }
    if (!cur) this.restartReason ??= "start";
    else if (!this.restartReason && this.redecimate(cur)) this.restartReason = "rate-change";
    if (this.restartReason) {
      if (now < this.backoffUntilMs) {
        this.c.waitingForIdr++;
        return false;
      }
      this.startProcess(this.restartReason, source, now);
      this.restartReason = undefined;
    }
    this.needIdr = false;
    return true;
  }

  private sourceFps(): number | undefined {
    return this.sourceRate.fps() ?? this.spsFps;
  }

  /** Whether ffmpeg's decimation is far enough off the one wanted now to restart for it. */
  private redecimate(cur: Session): boolean {
    const src = this.sourceFps();
    if (!src) return false;
    const ideal = keepEvery(src, this.spec.fps);
    if (ideal === cur.keepEvery) return false;
    // Too few frames for the consumers, or at least twice the frames needed through the pipe.
    return src / cur.keepEvery < this.spec.fps * 0.95 || ideal >= 2 * cur.keepEvery;
  }

  private waitForIdr(reason: string): void {
    if (!this.needIdr) this.hub.requestKeyframe(`decoder: ${reason}`);
    this.needIdr = true;
  }

  private startProcess(reason: RestartReason, source: OutputGeometry, now: number): void {
    const old = this.current;
    if (old) {
      // A new size, output or rate: the old process still owes frames for units it was given,
      // and they are good, so it is let finish (stdin closed) — unless it was lagging, when its
      // pairing is in doubt. (After a crash or a resync there is no old process any more.)
      if (old.catchingUp) old.discard = true;
      void old.proc.stop(!old.catchingUp);
    }
    if (this.started++ > 0) this.c.restarts++;
    const geometry = outputGeometry(source.width, source.height, this.spec.maxHeight);
    const format = this.spec.format;
    const frameBytes = rawFrameBytes(geometry, format);
    const k = keepEvery(this.sourceFps(), this.spec.fps);
    const proc = new DecoderProcess({
      ffmpegPath: this.opts.ffmpegPath,
      args: decoderArgs({ geometry, source, format, keepEvery: k, ...(this.opts.jpegQuality !== undefined ? { jpegQuality: this.opts.jpegQuality } : {}) }),
      splitter: frameBytes !== undefined ? new RawFrameSplitter(frameBytes) : new JpegFrameSplitter(),
      log: this.log,
      maxStdinBytes: this.opts.maxStdinBytes ?? 1024 * 1024,
      onFrame: (data) => this.onDecoded(session, data),
      onDecodeError: (line) => {
        if (session === this.current) this.resync("decode-error", line);
        else session.discard = true;
      },
      onExit: (info) => {
        if (pid !== undefined) this.livePids.delete(pid);
        if (session === this.current) this.onProcessExit(session, info);
      },
    });
    const session: Session = {
      proc,
      fifo: new AuFifo<UnitMeta>(this.opts.desyncUnits ?? 60, this.opts.desyncMs ?? 2000, now),
      geometry,
      source: { ...source },
      format,
      keepEvery: k,
      written: 0,
      lastOutputMs: now,
      catchingUp: false,
      discard: false,
    };
    const pid = proc.pid;
    if (pid !== undefined) this.livePids.add(pid);
    this.current = session;
    this.lastSession = session;
    this.log.info({ reason, pid, source, output: { ...geometry, format, keepEvery: k } }, "decoder started");
  }

  /** The running ffmpeg's output no longer matches its input: drop it, start again at the next IDR. */
  private resync(reason: "decode-error" | "desync" | "extra-frame", detail: string): void {
    const cur = this.current;
    if (!cur) return;
    if (reason === "decode-error") this.c.decodeErrors++;
    else this.c.desyncs++;
    this.log.info({ reason, detail: detail.slice(0, 300) }, "decoder resynchronizes at the next IDR");
    cur.discard = true;
    void cur.proc.stop(false);
    this.current = undefined;
    this.restartReason = reason;
    this.waitForIdr(reason);
  }

  private onProcessExit(session: Session, info: { code: number | null; signal: NodeJS.Signals | null; requested: boolean; error?: Error; stderrTail: string[] }): void {
    if (this.current === session) this.current = undefined;
    if (info.requested || this.closed) return;
    this.c.crashes++;
    if (Date.now() - session.proc.startedAtMs > 10_000) this.consecutiveCrashes = 0;
    this.consecutiveCrashes++;
    const min = this.opts.restartBackoffMinMs ?? 250;
    const max = this.opts.restartBackoffMaxMs ?? 10_000;
    const delay = Math.min(max, min * 2 ** (this.consecutiveCrashes - 1));
    this.backoffUntilMs = nowMs() + delay;
    this.log.warn({ code: info.code, signal: info.signal, err: info.error?.message, stderr: info.stderrTail, restartInMs: delay }, "decoder process exited unexpectedly");
    this.restartReason = "crash";
    this.needIdr = true;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    // When the backoff ends, ask for an IDR to restart on (publishers without periodic IDRs).
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (!this.closed) this.hub.requestKeyframe("decoder restart");
    }, delay);
    this.backoffTimer.unref();
  }

  // ---- output side ----

  private onDecoded(session: Session, data: Buffer): void {
    if (session.discard) return;
    const { geometry, format } = session;
    const now = nowMs();
    session.lastOutputMs = now;
    const meta = session.fifo.shift(now);
    if (!meta) {
      this.c.unpairedFrames++;
      if (session === this.current) this.resync("extra-frame", "a frame came out with no access unit pending");
      else session.discard = true;
      return;
    }
    this.c.framesOut++;
    if (this.resumeIdr?.rtpTime === meta.rtpTime) {
      this.resumeToFrameMs = now - this.resumeIdr.writtenAtMs;
      this.resumeIdr = undefined;
      this.log.info({ resumeToFrameMs: Math.round(this.resumeToFrameMs) }, "decoding resumed after a break");
    }
    const frame: DecodedFrame = {
      stream: this.hub.name,
      sequence: this.sequence++,
      width: geometry.width,
      height: geometry.height,
      format,
      data,
      rtpTime: meta.rtpTime,
      arrivalMs: meta.arrivalMs,
      wallClockMs: meta.wallClockMs,
      decodedAtMs: now,
      keyframe: meta.keyframe,
    };
    let gray: DecodedFrame | undefined;
    for (const sub of this.subs) {
      if (!sub.sampler.accept(frame.rtpTime)) continue;
      let f = frame;
      if (sub.format === "gray8" && format === "rgb24") {
        gray ??= { ...frame, format: "gray8", data: grayFromRgb(data, geometry.width, geometry.height) };
        f = gray;
      } else if (sub.format !== undefined && sub.format !== format) {
        // Only across a format change, until ffmpeg restarts at the next IDR in the new format.
        this.c.formatMismatch++;
        continue;
      }
      try {
        sub.consumer(f);
        this.c.framesDelivered++;
      } catch (err) {
        // A consumer's failure is its own: the decoder and the other consumers go on.
        this.c.consumerErrors++;
        if (this.c.consumerErrors <= 10) this.log.warn({ err: (err as Error).message }, "frame consumer threw");
      }
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
