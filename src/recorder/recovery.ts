import type { Logger } from "pino";
import { readFragment } from "../media/fmp4/index.js";
import type { ObjectStore } from "../ports/object-store.js";
import { ManifestStore } from "./manifest-store.js";
import { MANIFEST_NAME, parseManifest, type RecordingManifest, type SegmentEntry } from "./manifest.js";

const PART = /\/(\d{6})-(\d{2})\.m4s$/;
const VIDEO_TRACK = 1;
const VIDEO_HZ = 90_000;

/**
 * After a crash a recording's manifest lags its objects by up to one segment (it is rewritten
 * per segment, parts are stored every part). At start-up, before any publisher is accepted,
 * every recording that never ended gets the parts the manifest does not name appended — their
 * timing read back from the fragments themselves — and is closed. A segment whose first part is
 * missing cannot be decoded and is left out.
 */
export async function recoverInterruptedRecordings(store: ObjectStore, log: Logger, manifests = new ManifestStore(store)): Promise<number> {
  let recovered = 0;
  const objects = await store.list("");
  const manifestObjects = objects.filter((o) => o.key.endsWith(`/${MANIFEST_NAME}`));
  for (const mo of manifestObjects) {
    let m: RecordingManifest;
    try {
      m = parseManifest(await store.get(mo.key));
    } catch (err) {
      log.warn({ objectKey: mo.key, err: (err as Error).message }, "unreadable manifest left as it is");
      continue;
    }
    if (m.endedAt !== null) continue;
    const prefix = mo.key.slice(0, -MANIFEST_NAME.length);
    const named = new Set(m.segments.flatMap((s) => s.parts.map((p) => p.key)));
    const orphans = objects.filter((o) => o.key.startsWith(prefix) && PART.test(o.key) && !named.has(o.key)).map((o) => o.key).sort();
    let appended = 0;
    for (const key of orphans) {
      const [, seqText, partText] = PART.exec(key) as RegExpExecArray;
      const seq = Number(seqText);
      const partIndex = Number(partText);
      const data = await store.get(key);
      const video = readFragment(data).tracks.find((t) => t.trackId === VIDEO_TRACK);
      if (!video) continue;
      let seg = m.segments.find((s) => s.seq === seq);
      if (!seg) {
        if (partIndex !== 0) continue; // its IDR part is gone: undecodable
        const prev = m.segments[m.segments.length - 1];
        const startMs = prev ? prev.startMs + ((video.baseMediaDecodeTime - prev.startDts) * 1000) / VIDEO_HZ : m.startedAt;
        seg = {
          seq,
          init: m.inits[m.inits.length - 1]?.index ?? 0,
          startMs,
          startDts: video.baseMediaDecodeTime,
          durationMs: 0,
          bytes: 0,
          keyframe: video.firstSampleIsSync,
          complete: false,
          parts: [],
        } satisfies SegmentEntry;
        m.segments.push(seg);
      } else if (seg.parts.length !== partIndex) {
        continue; // a gap inside the segment: keep what decodes
      }
      const durationMs = (video.duration * 1000) / VIDEO_HZ;
      seg.parts.push({ key, durationMs, bytes: data.length, independent: video.firstSampleIsSync });
      seg.durationMs += durationMs;
      seg.bytes += data.length;
      appended++;
    }
    for (const s of m.segments) s.complete = true;
    const last = m.segments[m.segments.length - 1];
    m.endedAt = last ? Math.round(last.startMs + last.durationMs) : m.startedAt;
    const recoveredManifest = m;
    // Through the recording's one writer, like every change (nothing else runs at start-up yet).
    await manifests.update(m.stream, m.recordingId, (current) => (current.endedAt === null ? recoveredManifest : current));
    log.info({ stream: m.stream, recording: m.recordingId, appendedParts: appended }, "recovered interrupted recording");
    recovered++;
  }
  return recovered;
}
