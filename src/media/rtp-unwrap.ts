/**
 * Extends a wrapping 16-bit (RTP sequence number) or 32-bit (RTP timestamp) counter to a
 * plain number. Each value is taken as the extension nearest to the highest one seen so
 * far, so late and reordered values land just behind it and wrap-around carries forward.
 * The first value is returned as is; values older than it come out below it (maybe negative).
 * Exact up to 2^53, i.e. forever at any RTP rate.
 */
export class RtpUnwrapper {
  private highest = 0;
  private started = false;
  private readonly half: number;
  private readonly modulus: number;

  constructor(readonly bits: 16 | 32) {
    this.modulus = 2 ** bits;
    this.half = this.modulus / 2;
  }

  unwrap(raw: number): number {
    if (!this.started) {
      this.started = true;
      this.highest = raw % this.modulus;
      return this.highest;
    }
    // Signed distance from the highest value's low bits, in [-half, half).
    let diff = (raw - (this.highest % this.modulus)) % this.modulus;
    if (diff >= this.half) diff -= this.modulus;
    else if (diff < -this.half) diff += this.modulus;
    const ext = this.highest + diff;
    if (ext > this.highest) this.highest = ext;
    return ext;
  }

  /** Forgets the history: the next value is taken as is. */
  reset(): void {
    this.started = false;
    this.highest = 0;
  }
}
