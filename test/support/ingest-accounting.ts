import type { SentStats } from "../helpers/ffmpeg-rtp-source.js";
import { waitFor } from "./wait-for.js";

/** The server's own count of a live stream's RTP packets (GET /api/v1/streams/{stream}). */
export interface IngestCounters {
  packetsReceived: number;
  /** Gaps the server gave up on (after reordering and NACK retransmissions). */
  packetsLost: number;
}

export async function ingestCounters(baseUrl: string, stream: string): Promise<IngestCounters> {
  const res = await fetch(`${baseUrl}/api/v1/streams/${stream}`);
  if (res.status !== 200) throw new Error(`GET /api/v1/streams/${stream}: ${res.status} ${await res.text()}`);
  const { packetsReceived, packetsLost } = (await res.json()) as IngestCounters;
  return { packetsReceived, packetsLost };
}

/**
 * Waits until the server has accounted for every RTP packet the publisher sent (received, or
 * counted lost), then throws if any was lost on the way. Call it before comparing an exact frame
 * count with what was sent, while the stream is still live: a UDP datagram dropped by a busy
 * machine is then reported as loss, and not as a frame the server failed to record. This is
 * also the barrier "the last packets crossed loopback", in place of a fixed sleep.
 */
export async function expectNoIngestLoss(baseUrl: string, stream: string, sent: Pick<SentStats, "videoPackets" | "audioPackets">): Promise<IngestCounters> {
  const expected = sent.videoPackets + sent.audioPackets;
  let last: IngestCounters = { packetsReceived: 0, packetsLost: 0 };
  await waitFor(
    async () => {
      last = await ingestCounters(baseUrl, stream);
      return last.packetsReceived + last.packetsLost >= expected;
    },
    { timeoutMs: 15_000, intervalMs: 50, what: `the server accounting for all ${expected} packets sent` },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last)}: packets lost before the server could count them`);
  });
  if (last.packetsLost > 0) {
    throw new Error(`${last.packetsLost} of ${expected} RTP packets were lost on the way to the server (network loss, not a recording defect): exact frame counts cannot hold`);
  }
  return last;
}
