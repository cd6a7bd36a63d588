import { describe, expect, it } from "vitest";
import { RtpReorderBuffer, type RtpReorderBufferOptions } from "../../../src/media/rtp-reorder-buffer.js";

/** Records what comes out: a packet as its payload's first byte pair (the number it was sent with), a gap as "gap:N". */
function reorderer(opts: RtpReorderBufferOptions) {
  const out: (number | string)[] = [];
  const timestamps: number[] = [];
  const b = new RtpReorderBuffer(opts, {
    packet: (ts, _marker, payload) => {
      out.push(((payload[0] as number) << 8) | (payload[1] as number));
      timestamps.push(ts);
    },
    gap: (n) => out.push(`gap:${n}`),
  });
  const push = (...seqs: number[]): number => {
    let lost = 0;
    for (const seq of seqs) lost += b.process(seq & 0xffff, (seq * 10) >>> 0, false, Uint8Array.of((seq >> 8) & 0xff, seq & 0xff), 0);
    return lost;
  };
  return { b, out, timestamps, push };
}

describe("RtpReorderBuffer", () => {
  it("passes in-order packets straight through", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(100, 101, 102);
    expect(r.out).toEqual([100, 101, 102]);
    expect(r.b).toMatchObject({ packetsLost: 0, packetsLate: 0, packetsDuplicate: 0 });
  });

  it("holds packets behind a missing one and releases them in order when it comes", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(1, 3, 4, 2, 5);
    expect(r.out).toEqual([1, 2, 3, 4, 5]);
    expect(r.b.packetsLost).toBe(0);
  });

  it("gives a gap up exactly when the window is exceeded, one gap event per run, and returns the count", () => {
    const r = reorderer({ windowPackets: 4 });
    expect(r.push(1, 4, 5, 6)).toBe(0); // 2, 3 missing; 4..6 held (6 is 4 past 2)
    expect(r.out).toEqual([1]);
    expect(r.push(7)).toBe(1); // 7 is 5 past 2: 2 is given up; 3 still has a chance
    expect(r.out).toEqual([1, "gap:1"]);
    expect(r.push(8)).toBe(1);
    expect(r.out).toEqual([1, "gap:1", "gap:1", 4, 5, 6, 7, 8]);
    r.push(2, 3); // too late
    expect(r.b).toMatchObject({ packetsLost: 2, packetsLate: 2 });
  });

  it("with a zero window, any gap is a loss at once", () => {
    const r = reorderer({ windowPackets: 0 });
    expect(r.push(1, 3)).toBe(1);
    r.push(2);
    expect(r.out).toEqual([1, "gap:1", 3]);
    expect(r.b).toMatchObject({ packetsLost: 1, packetsLate: 1 });
  });

  it("counts duplicates whether held or already consumed", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(1, 1, 3, 3, 2, 2, 3);
    expect(r.out).toEqual([1, 2, 3]);
    expect(r.b).toMatchObject({ packetsDuplicate: 4, packetsLost: 0, packetsLate: 0 });
  });

  it("runs through the 16-bit sequence wrap with reordering, no false losses", () => {
    const r = reorderer({ windowPackets: 4 });
    const seqs = Array.from({ length: 20 }, (_, i) => 65_526 + i);
    for (let i = 1; i + 1 < seqs.length; i += 2) [seqs[i], seqs[i + 1]] = [seqs[i + 1] as number, seqs[i] as number];
    r.push(...seqs);
    expect(r.out).toEqual(Array.from({ length: 20 }, (_, i) => (65_526 + i) & 0xffff));
    expect(r.b).toMatchObject({ packetsLost: 0, packetsLate: 0, packetsDuplicate: 0, sequenceResets: 0 });
  });

  it("treats a forward jump beyond the window as a long loss, counted, and lets the packet out at once", () => {
    const r = reorderer({ windowPackets: 4 });
    r.push(1, 2, 1002);
    // A jump past everything held (a network cut): nothing is waited for behind it, or the media
    // after a cut would wait a window of packets, and NACKed packets from the cut slip in ahead.
    expect(r.out).toEqual([1, 2, "gap:999", 1002]);
    // numbers from before the jump that come now (retransmissions of the cut) are late
    r.push(1001, 999, 1000, 998, 1003);
    expect(r.out).toEqual([1, 2, "gap:999", 1002, 1003]);
    expect(r.b).toMatchObject({ packetsLost: 999, packetsLate: 4, sequenceJumps: 1 });
  });

  it("takes a run of retransmissions from inside a jump as late, not as a restarted sequence", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(1, 2, 2000, 2001);
    // after a cut the server NACKs what it missed: the publisher resends a run of it, in order
    const resent = Array.from({ length: 40 }, (_, i) => 1500 + i);
    r.push(...resent, 2002);
    expect(r.out).toEqual([1, 2, "gap:1997", 2000, 2001, 2002]);
    expect(r.b).toMatchObject({ sequenceResets: 0, packetsLate: 40, packetsLost: 1997 });
  });

  it("at the window's edge a jump still waits for the window behind it (reordering, not a cut)", () => {
    const r = reorderer({ windowPackets: 4 });
    r.push(1, 2, 4, 8);
    // 8 is 6 past nextSeq (3) but within a window of the highest held (4): 3 is given up, 4 goes, 5-7 awaited
    expect(r.out).toEqual([1, 2, "gap:1", 4]);
    r.push(6, 5, 7);
    expect(r.out).toEqual([1, 2, "gap:1", 4, 5, 6, 7, 8]);
    expect(r.b).toMatchObject({ packetsLost: 1, sequenceJumps: 0 });
  });

  it("restarts at a sequence restarted far behind, after min(window, 32) packets in a row, losing none", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(30_000, 30_001, 30_003); // 30_002 missing: 30_003 is held
    // 20000 behind (a restart more than 2^15 away unwraps as a forward jump: counted lost).
    const restarted = Array.from({ length: 12 }, (_, i) => 10_000 + i);
    r.push(...restarted.slice(0, 7));
    expect(r.out).toEqual([30_000, 30_001]); // 7 in a row: not proven yet
    expect(r.b.packetsLate).toBe(7);
    r.push(...restarted.slice(7));
    expect(r.out).toEqual([30_000, 30_001, "gap:1", 30_003, "gap:0", ...restarted]);
    expect(r.b).toMatchObject({ sequenceResets: 1, packetsLate: 0, packetsLost: 1 });
    // The new sequence goes on normally, reordering included.
    r.push(10_013, 10_012, 10_014);
    expect(r.out.slice(-3)).toEqual([10_012, 10_013, 10_014]);
  });

  it("is not restarted by late packets that are not a run in sequence", () => {
    const r = reorderer({ windowPackets: 4 });
    r.push(...Array.from({ length: 50 }, (_, i) => 1000 + i));
    // Far-late stragglers interleaved with live packets, and a run out of sequence.
    for (let i = 0; i < 10; i++) r.push(900 + i, 1050 + i);
    r.push(800, 810, 820, 830, 840);
    expect(r.b.sequenceResets).toBe(0);
    expect(r.b.packetsLate).toBe(15);
    expect(r.out).toEqual(Array.from({ length: 60 }, (_, i) => 1000 + i));
  });

  it("at the start, waits up to its slack for packets from before the first unless it opens the stream", () => {
    const opens = (p: Uint8Array): boolean => p[1] === 0xaa;
    const r = reorderer({ windowPackets: 8, startSlackPackets: 3, opensStream: opens });
    r.push(11, 10); // 11 overtook 10
    expect(r.out).toEqual([]);
    r.push(9, 12, 13, 14); // 14 is beyond the slack from 9... the head is the lowest seen
    expect(r.out).toEqual([9, 10, 11, 12, 13, 14]);
    expect(r.b.packetsLost).toBe(0);
    const s = reorderer({ windowPackets: 8, startSlackPackets: 3, opensStream: opens });
    s.push(0xaa, 0xab);
    expect(s.out).toEqual([0xaa, 0xab]);
  });

  it("flush gives up what is still missing and releases what is held", () => {
    const r = reorderer({ windowPackets: 8 });
    r.push(1, 3, 6);
    expect(r.b.flush()).toBe(3);
    expect(r.out).toEqual([1, "gap:1", 3, "gap:2", 6]);
  });

  it("hands the sink raw 32-bit timestamps through their wrap", () => {
    const r = reorderer({ windowPackets: 8 });
    const first = Math.floor((2 ** 32 - 30) / 10);
    r.push(first, first + 2, first + 1, first + 3, first + 4);
    expect(r.timestamps).toEqual([0, 1, 2, 3, 4].map((i) => ((first + i) * 10) >>> 0));
  });
});
