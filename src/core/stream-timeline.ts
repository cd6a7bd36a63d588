/**
 * One track's timeline on a live stream, kept across publisher sessions and RTP timestamp
 * jumps. Ingest hands every unit's session-local RTP time (extended, counted from the session's
 * first unit) with its arrival; the result is the stream time the hub's readers see. Inside a
 * session time follows RTP exactly; after a break (a new session, or a jump of more than
 * `maxJumpMs` beyond the arrival time elapsed) it continues from the last unit by the
 * wall-clock time that passed, so a recorded gap has its real length, neither squashed nor
 * stretched, and the unit is marked as a discontinuity.
 */
export class TrackTimeline {
  private offset = 0;
  private lastStreamTime: number | undefined;
  private lastLocal = 0;
  private lastArrivalMs = 0;
  private rebaseNext = false;
  private lastWasBreak = false;
  private breaks = 0;

  constructor(
    readonly clockHz: number,
    private readonly maxJumpMs: number,
  ) {}

  /** Maps a unit's session-local RTP time to stream time; check `discontinuity` right after. */
  map(localRtpTime: number, arrivalMs: number): number {
    this.lastWasBreak = false;
    if (this.lastStreamTime === undefined) {
      this.offset = -localRtpTime;
    } else if (this.rebaseNext || this.isJump(localRtpTime, arrivalMs)) {
      const elapsedTicks = Math.max(1, Math.round(((arrivalMs - this.lastArrivalMs) * this.clockHz) / 1000));
      this.offset = this.lastStreamTime + elapsedTicks - localRtpTime;
      this.lastWasBreak = true;
      this.breaks++;
    }
    this.rebaseNext = false;
    this.lastLocal = localRtpTime;
    this.lastArrivalMs = arrivalMs;
    const t = localRtpTime + this.offset;
    // Reordered or repeated units may map behind the newest one; keep the newest as reference.
    if (this.lastStreamTime === undefined || t > this.lastStreamTime) this.lastStreamTime = t;
    return t;
  }

  /** The unit just mapped began after a break. */
  get discontinuity(): boolean {
    return this.lastWasBreak;
  }

  /** Breaks seen so far (resumes and jumps). */
  get discontinuities(): number {
    return this.breaks;
  }

  /** A new publisher session carries the track: its first unit continues after the last one by the wall-clock gap. */
  newSession(): void {
    if (this.lastStreamTime !== undefined) this.rebaseNext = true;
  }

  private isJump(localRtpTime: number, arrivalMs: number): boolean {
    const rtpMs = ((localRtpTime - this.lastLocal) * 1000) / this.clockHz;
    const wallMs = arrivalMs - this.lastArrivalMs;
    // Backwards by more than the limit (a restarted encoder) or forwards by more than the limit beyond what arrival shows.
    return rtpMs < -this.maxJumpMs || rtpMs - wallMs > this.maxJumpMs;
  }
}
