import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DtlsHandshakeOrder, MAX_HELD_RECORDS, RESEND_MIN_INTERVAL_MS } from "../../../src/rtc/werift-dtls-order.js";
import { fuzzParams } from "../../support/fuzz.js";

/** A DTLS 1.2 record: 13-byte header (type, version, epoch, sequence, length) and its fragment. */
function record(type: number, epoch: number, fragment: Buffer): Buffer {
  const h = Buffer.alloc(13);
  h[0] = type;
  h.writeUInt16BE(0xfefd, 1);
  h.writeUInt16BE(epoch, 3);
  h.writeUInt16BE(fragment.length, 11);
  return Buffer.concat([h, fragment]);
}

/** One plaintext handshake message (whole, or the fragment [offset, offset+len) of a `total`-byte body). */
function handshake(msgType: number, seq: number, total = 4, offset = 0, len = total): Buffer {
  const b = Buffer.alloc(12 + len);
  b[0] = msgType;
  b.writeUIntBE(total, 1, 3);
  b.writeUInt16BE(seq, 4);
  b.writeUIntBE(offset, 6, 3);
  b.writeUIntBE(len, 9, 3);
  return record(22, 0, b);
}
const ccs = record(20, 0, Buffer.from([1]));
const finished = record(22, 1, Buffer.alloc(40, 7));
const appData = record(23, 1, Buffer.alloc(20, 9));

function gate(start = 0) {
  const delivered: Buffer[] = [];
  let resends = 0;
  let now = start;
  const order = new DtlsHandshakeOrder(
    (r) => delivered.push(r),
    () => resends++,
    () => now,
  );
  return { order, delivered, resends: () => resends, advance: (ms: number) => (now += ms) };
}

describe("DtlsHandshakeOrder (werift 0.25 DTLS handshake in message_seq order)", () => {
  it("hands on a flight in order as it comes", () => {
    const g = gate();
    const flight = [handshake(1, 0), handshake(11, 1), handshake(16, 2), ccs, finished];
    for (const r of flight) g.order.receive(r);
    expect(g.delivered).toEqual(flight);
    expect(g.order.stats).toEqual({ held: 0, duplicates: 0, resends: 0 });
  });

  it("holds a flight's later messages, CCS and Finished behind a lost one until its retransmission", () => {
    const g = gate();
    const ch = handshake(1, 0);
    const cert = handshake(11, 1);
    const cke = handshake(16, 2);
    const cv = handshake(15, 3);
    g.order.receive(ch);
    // Certificate lost: the rest waits.
    for (const r of [cke, cv, ccs, finished]) g.order.receive(r);
    expect(g.delivered).toEqual([ch]);
    expect(g.order.stats.held).toBe(4);
    // The peer retransmits its flight: the gap fills, the held ones follow in order, duplicates are dropped.
    for (const r of [cert, cke, cv, ccs, finished]) g.order.receive(r);
    expect(g.delivered.slice(0, 6)).toEqual([ch, cert, cke, cv, ccs, finished]);
    // The retransmitted CKE/CV were dropped (werift would re-key on them), CCS/Finished pass (no gap).
    expect(g.delivered.slice(6)).toEqual([ccs, finished]);
    expect(g.order.stats.duplicates).toBe(2);
  });

  it("resends our last flight on a retransmitted peer flight, at most once per interval", () => {
    const g = gate(1000);
    for (const r of [handshake(1, 0), handshake(11, 1), handshake(16, 2)]) g.order.receive(r);
    g.order.receive(handshake(11, 1));
    g.order.receive(handshake(16, 2));
    expect(g.resends()).toBe(1);
    g.advance(RESEND_MIN_INTERVAL_MS - 1);
    g.order.receive(handshake(11, 1));
    expect(g.resends()).toBe(1);
    g.advance(1);
    g.order.receive(handshake(11, 1));
    expect(g.resends()).toBe(2);
  });

  it("lets a retransmitted ClientHello / HelloVerifyRequest through: werift answers those itself", () => {
    const g = gate();
    g.order.receive(handshake(1, 0));
    g.order.receive(handshake(1, 0));
    g.order.receive(handshake(3, 0));
    expect(g.delivered).toHaveLength(3);
    expect(g.resends()).toBe(0);
  });

  it("advances past a fragmented message only with its last fragment; the next message waits for it", () => {
    const g = gate();
    const first = handshake(11, 0, 8, 0, 4);
    const next = handshake(16, 1);
    const last = handshake(11, 0, 8, 4, 4);
    g.order.receive(first);
    g.order.receive(next);
    expect(g.delivered).toEqual([first]);
    g.order.receive(last);
    expect(g.delivered).toEqual([first, last, next]);
  });

  it("splits a datagram carrying a whole flight (as Chromium sends) and orders its records", () => {
    const g = gate();
    const sh = handshake(2, 0);
    const cert = handshake(11, 1);
    const done = handshake(14, 2);
    g.order.receive(Buffer.concat([sh, done]));
    expect(g.delivered).toEqual([sh]);
    g.order.receive(cert);
    expect(g.delivered).toEqual([sh, cert, done]);
  });

  it("passes application data untouched when no gap is open, and holds it behind one", () => {
    const g = gate();
    g.order.receive(appData);
    expect(g.delivered).toEqual([appData]);
    g.order.receive(handshake(11, 1));
    g.order.receive(appData);
    expect(g.delivered).toEqual([appData]);
    g.order.receive(handshake(1, 0));
    expect(g.delivered).toEqual([appData, handshake(1, 0), handshake(11, 1), appData]);
  });

  it(`keeps at most ${MAX_HELD_RECORDS} records behind a gap, dropping the oldest`, () => {
    const g = gate();
    for (let i = 1; i <= MAX_HELD_RECORDS + 1; i++) g.order.receive(handshake(11, i));
    g.order.receive(handshake(1, 0));
    // seq 1 was dropped, so seq 2.. stay held behind the new gap at 1.
    expect(g.delivered).toEqual([handshake(1, 0)]);
    g.order.receive(handshake(11, 1));
    expect(g.delivered).toHaveLength(MAX_HELD_RECORDS + 2);
  });

  it("never throws on any datagram from the network, and holds at most its cap", () => {
    const headed = fc.tuple(fc.constantFrom(20, 21, 22, 23), fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 80 })).map(([type, epoch, body]) => record(type, epoch, Buffer.from(body)));
    const datagram = fc.oneof(fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)), headed, fc.array(headed, { maxLength: 4 }).map((rs) => Buffer.concat(rs)));
    fc.assert(
      fc.property(fc.array(datagram, { maxLength: 30 }), (datagrams) => {
        const g = gate();
        for (const d of datagrams) g.order.receive(d);
        expect(g.order.heldRecords).toBeLessThanOrEqual(MAX_HELD_RECORDS);
      }),
      fuzzParams(500),
    );
  });
});
