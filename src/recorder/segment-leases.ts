/**
 * Segments someone is reading right now (a playback response, a clip being copied, an HLS
 * viewer). The retention cleaner skips leased segments, so a reader never loses an object
 * under its feet.
 */
export class SegmentLeases {
  private readonly counts = new Map<string, number>();

  private static id(recordingId: string, seq: number): string {
    return `${recordingId}/${seq}`;
  }

  /** Leases the given segments; the returned function releases them (idempotent). */
  acquire(recordingId: string, seqs: readonly number[]): () => void {
    for (const seq of seqs) {
      const id = SegmentLeases.id(recordingId, seq);
      this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const seq of seqs) {
        const id = SegmentLeases.id(recordingId, seq);
        const n = (this.counts.get(id) ?? 1) - 1;
        if (n <= 0) this.counts.delete(id);
        else this.counts.set(id, n);
      }
    };
  }

  isLeased(recordingId: string, seq: number): boolean {
    return this.counts.has(SegmentLeases.id(recordingId, seq));
  }

  get size(): number {
    return this.counts.size;
  }
}
