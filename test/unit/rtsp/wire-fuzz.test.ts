import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RtspWireLimits } from "../../../src/ingest/rtsp/wire-reader.js";
import { fuzzParams, mutatedLines } from "../../support/fuzz.js";
import { CAPTURES, capture, recorder } from "./capture.js";

const LIMITS: RtspWireLimits = { maxHeaderBytes: 512, maxBodyBytes: 1024 };
/** The most a reader may hold between pushes: one unfinished head, body or interleaved frame. */
const MAX_HELD = Math.max(LIMITS.maxHeaderBytes, LIMITS.maxBodyBytes, 4 + 65535);

/** Feeds `bytes` cut at `cuts` (fractions), counting only RtspWireError; anything else fails the test. */
function run(bytes: Buffer, cuts: number[]) {
  const r = recorder(LIMITS);
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    r.feed(bytes.subarray(prev, p));
    prev = p;
    expect(r.reader.buffered).toBeLessThanOrEqual(MAX_HELD);
  }
  return { units: r.units, errors: r.errors.map((e) => `${e.status}${e.fatal ? "!" : ""}`) };
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });
/** Bytes an RTSP stream is made of: message text, `$`, line ends, binary. */
const rtspish = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom("$", "\r\n", "\n", "\r\n\r\n", "RTSP/1.0", "RTSP/1.0 200 OK\r\n", "OPTIONS * RTSP/1.0\r\n", "CSeq: 1\r\n", "Content-Length: 5\r\n", "Content-Length: 2000\r\n", ": x\r\n").map((s) => Buffer.from(s)),
      fc.string({ maxLength: 30 }).map((s) => Buffer.from(s)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.concat(parts.map((p) => Buffer.from(p))));

describe("RtspWireReader fuzz", () => {
  it("random bytes: only RtspWireError, bounded buffering, and the same units and errors however the input is cut", () => {
    fc.assert(
      fc.property(rtspish, cuts, (bytes, c) => {
        const whole = run(bytes, []);
        const split = run(bytes, c);
        expect(split).toEqual(whole);
      }),
      fuzzParams(600),
    );
  });

  it("a flood with no line end is refused once the limit is reached (414), holding no more than the limit", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: LIMITS.maxHeaderBytes, maxLength: 3 * LIMITS.maxHeaderBytes }), (raw) => {
        const bytes = Buffer.from(raw.map((b) => (b === 0x0a || b === 0x0d || b === 0x24 ? 0x41 : b)));
        const r = run(bytes, [0.3, 0.6]);
        expect(r.errors).toEqual(["414!"]);
      }),
      fuzzParams(100),
    );
  });

  for (const name of CAPTURES) {
    it(`mutated ${name}: only RtspWireError, bounded buffering, the same whole or cut`, () => {
      // The text part (messages without the binary interleaved frames) mutated line by line.
      const text = capture(name).toString("latin1").replace(/\$[\s\S]{3}[^A-Z]*/g, "");
      const lines = text.split("\r\n").slice(0, 60);
      fc.assert(
        fc.property(mutatedLines(lines), cuts, (mutated, c) => {
          const bytes = Buffer.from(mutated, "latin1");
          expect(run(bytes, c)).toEqual(run(bytes, []));
        }),
        fuzzParams(150),
      );
    });
  }

  it("error statuses are the documented ones", () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(rtspish, (bytes) => {
        for (const e of run(bytes, []).errors) seen.add(Number.parseInt(e, 10));
      }),
      fuzzParams(400),
    );
    for (const s of seen) expect([400, 413, 414, 505]).toContain(s);
    expect(seen.has(400)).toBe(true);
  });
});
