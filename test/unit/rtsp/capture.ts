/** Shared by the RTSP wire tests: the captured client bytes, and a reader that records what it frames. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { RtspWireError } from "../../../src/ingest/rtsp/message.js";
import { RtspWireReader, type RtspWireLimits } from "../../../src/ingest/rtsp/wire-reader.js";

export const CAPTURES = ["ffmpeg-push-tcp", "ffmpeg-push-udp", "ffmpeg-read-udp", "ffprobe-read-tcp", "gst-push-tcp", "gst-push-udp-opus", "gst-read-tcp", "vlc-debian-satip-realrtsp"] as const;

export function capture(name: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../../fixtures/rtsp/${name}.bin`, import.meta.url)));
}

export const LIMITS: RtspWireLimits = { maxHeaderBytes: 4096, maxBodyBytes: 65536 };

/** One framed unit as comparable text (bodies and interleaved payloads as hex: copies, not views). */
export type Unit = string;

export function recorder(limits: RtspWireLimits = LIMITS): { reader: RtspWireReader; units: Unit[]; errors: RtspWireError[]; feed(chunk: Buffer): void } {
  const units: Unit[] = [];
  const errors: RtspWireError[] = [];
  const reader = new RtspWireReader(limits, {
    onRequest: (r) => units.push(`REQ ${r.method} ${r.uri} ${JSON.stringify([...r.headers.entries()])} ${r.body.toString("hex")}`),
    onResponse: (r) => units.push(`RES ${r.status} ${r.reason} ${JSON.stringify([...r.headers.entries()])} ${r.body.toString("hex")}`),
    onInterleaved: (ch, p) => units.push(`$${ch} ${p.toString("hex")}`),
  });
  // After a non-fatal error the rest stays buffered: an empty push goes on with it, as a connection does.
  const feed = (chunk: Buffer): void => {
    let next = chunk;
    for (;;) {
      try {
        reader.push(next);
        return;
      } catch (e) {
        if (!(e instanceof RtspWireError)) throw e;
        // A fatal error is thrown again on every later push: count it once.
        if (!errors.includes(e)) errors.push(e);
        if (e.fatal) return;
        next = Buffer.alloc(0);
      }
    }
  };
  return { reader, units, errors, feed };
}
