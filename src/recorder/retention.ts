import type { Logger } from "pino";
import type { DiskSpaceStats, FreeSpaceProbe } from "../ports/free-space.js";
import type { ObjectStore } from "../ports/object-store.js";
import { withoutSegments, type RecordingManifest, type SegmentEntry } from "./manifest.js";
import type { RecordingCatalog } from "./recording-catalog.js";
import type { Recorder } from "./recorder.js";
import type { SegmentLeases } from "./segment-leases.js";

export interface RetentionPolicy {
  /** Keep this much of a stream's recording (by segment end time). */
  maxAgeMs(stream: string): number;
  /** Per stream byte cap (0: none). */
  maxStreamBytes: number;
  /** Cap over all streams (0: none). */
  maxTotalBytes: number;
  /**
   * Free space to keep on the disk holding the recordings' local bytes (the fs store, the S3
   * spool): below `minFreeBytes` the oldest rolling segments go first, over all streams.
   * Absent, or `minFreeBytes` 0: no check.
   */
  disk?: { probe: FreeSpaceProbe; minFreeBytes: number };
}

interface Candidate {
  manifest: RecordingManifest;
  seg: SegmentEntry;
  live: boolean;
}

export interface RetentionResult {
  deletedSegments: number;
  deletedBytes: number;
  deletedRecordings: number;
  skippedLeased: number;
  /** Of `deletedSegments`, those deleted because the disk was low. */
  diskLowEvictions: number;
}

/**
 * The rolling window: drops a stream's oldest segments once they are older than its window or
 * push it over its byte cap (or all streams over the total cap), whichever bound comes first.
 * It never drops the segment being written, nor one that is leased. The manifest is rewritten
 * before the objects go, so it never names a missing object; a live recording's manifest is
 * changed through its writer, in the writer's own order.
 */
export class RetentionCleaner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionResult> | undefined;
  private readonly disk: DiskSpaceStats;
  /** The "nothing left to delete" error was logged in this low episode. */
  private exhaustedLogged = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly catalog: RecordingCatalog,
    private readonly recorder: Recorder,
    private readonly leases: SegmentLeases,
    private readonly policy: RetentionPolicy,
    private readonly log: Logger,
    /** Wall clock, epoch ms (injected by tests: windows are minutes long). */
    private readonly now: () => number = Date.now,
  ) {
    this.disk = { path: policy.disk?.probe.path, freeBytes: undefined, minFreeBytes: policy.disk?.minFreeBytes ?? 0, low: false, lowEvictions: 0, lowEpisodes: 0 };
  }

  /** The disk as the last pass saw it (for /metrics). */
  get diskStats(): DiskSpaceStats {
    return { ...this.disk };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      // A store outage makes a pass fail; the next one catches up.
      void this.runOnce().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "retention pass failed; will retry"));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass over every stream; concurrent calls share the pass in progress. */
  runOnce(now = this.now()): Promise<RetentionResult> {
    this.running ??= this.pass(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(now: number): Promise<RetentionResult> {
    const manifests = await this.catalog.manifests();
    const byStream = new Map<string, Candidate[]>();
    for (const m of manifests) {
      const live = this.recorder.liveManifest(m.stream) === m;
      const list = byStream.get(m.stream) ?? [];
      for (const seg of m.segments) list.push({ manifest: m, seg, live });
      byStream.set(m.stream, list);
    }
    const doomed = new Set<Candidate>();
    const result: RetentionResult = { deletedSegments: 0, deletedBytes: 0, deletedRecordings: 0, skippedLeased: 0, diskLowEvictions: 0 };
    const removable = (c: Candidate): boolean => {
      if (!c.seg.complete) return false; // being written
      if (this.leases.isLeased(c.manifest.recordingId, c.seg.seq)) {
        result.skippedLeased++;
        return false;
      }
      return true;
    };
    let total = 0;
    const survivors: Candidate[] = [];
    for (const [stream, list] of byStream) {
      list.sort((a, b) => a.seg.startMs - b.seg.startMs);
      const cutoff = now - this.policy.maxAgeMs(stream);
      let bytes = list.reduce((n, c) => n + c.seg.bytes, 0);
      for (const c of list) {
        const tooOld = c.seg.startMs + c.seg.durationMs < cutoff;
        const tooBig = this.policy.maxStreamBytes > 0 && bytes > this.policy.maxStreamBytes;
        if ((tooOld || tooBig) && removable(c)) {
          doomed.add(c);
          bytes -= c.seg.bytes;
        } else if (!tooOld && !tooBig) {
          break; // the rest is newer and within bounds
        }
      }
      total += bytes;
      survivors.push(...list.filter((c) => !doomed.has(c)));
    }
    if (this.policy.maxTotalBytes > 0 && total > this.policy.maxTotalBytes) {
      survivors.sort((a, b) => a.seg.startMs - b.seg.startMs);
      for (const c of survivors) {
        if (total <= this.policy.maxTotalBytes) break;
        if (!removable(c)) continue;
        doomed.add(c);
        total -= c.seg.bytes;
      }
    }

    const forDisk = await this.diskLowCandidates(survivors.filter((c) => !doomed.has(c)), doomed, removable);
    for (const c of forDisk) doomed.add(c);

    const byRecording = new Map<RecordingManifest, Candidate[]>();
    for (const c of doomed) byRecording.set(c.manifest, [...(byRecording.get(c.manifest) ?? []), c]);
    for (const [manifest, cands] of byRecording) {
      const planned = new Set(cands.map((c) => c.seg.seq));
      let gone: SegmentEntry[] = [];
      let keys: string[] = [];
      let removed = false;
      // Applied to the newest version, in the recording's one queue: a tag change made since
      // this pass read the manifest is kept, and a segment leased since is spared.
      await this.recorder.manifests.update(manifest.stream, manifest.recordingId, (current, { live }) => {
        const seqs = new Set(
          current.segments
            .filter((s) => planned.has(s.seq) && s.complete && !this.leases.isLeased(current.recordingId, s.seq))
            .map((s) => s.seq),
        );
        gone = current.segments.filter((s) => seqs.has(s.seq));
        const next = withoutSegments(current, seqs);
        keys = next.keys;
        // A live recording whose every stored segment goes (a low disk takes them all) still
        // writes its next segment on its newest init: that init stays, in the manifest and stored.
        const newestInit = current.inits[current.inits.length - 1];
        if (live && newestInit && !next.updated.inits.includes(newestInit)) {
          next.updated.inits = [...next.updated.inits, newestInit];
          keys = keys.filter((k) => k !== newestInit.key);
        }
        // The whole recording has aged out: its manifest goes first, then its objects.
        removed = !live && next.updated.segments.length === 0;
        return removed ? null : next.updated;
      });
      result.skippedLeased += cands.length - gone.length;
      result.deletedSegments += gone.length;
      result.deletedBytes += gone.reduce((n, s) => n + s.bytes, 0);
      const diskSeqs = new Set(cands.filter((c) => forDisk.has(c)).map((c) => c.seg.seq));
      result.diskLowEvictions += gone.filter((s) => diskSeqs.has(s.seq)).length;
      if (removed) result.deletedRecordings++;
      // The manifest no longer names them: one that fails to go (store down) is only an orphan,
      // and the others must still go, or a low disk stays low.
      let failed = 0;
      let firstError: unknown;
      for (const k of keys) {
        try {
          await this.store.delete(k);
        } catch (err) {
          failed++;
          firstError ??= err;
        }
      }
      if (failed > 0) this.log.warn({ err: (firstError as Error).message, recording: manifest.recordingId, failed }, "retention could not delete some objects the manifest no longer names");
    }
    this.disk.lowEvictions += result.diskLowEvictions;
    if (result.diskLowEvictions > 0 && this.policy.disk) this.disk.freeBytes = await this.policy.disk.probe.freeBytes().catch(() => this.disk.freeBytes);
    if (result.deletedSegments > 0) this.log.info(result, "retention removed old segments");
    return result;
  }

  /**
   * With the disk below its minimum, the oldest removable rolling segments over all streams
   * (after what age and caps already drop) until their bytes cover the shortfall. Kept clips are
   * not in the catalog's rolling recordings, so they are never candidates; leased segments and
   * the one being written are skipped. Logs the alarm once per episode.
   */
  private async diskLowCandidates(survivors: Candidate[], doomed: ReadonlySet<Candidate>, removable: (c: Candidate) => boolean): Promise<Set<Candidate>> {
    const chosen = new Set<Candidate>();
    const disk = this.policy.disk;
    if (!disk || disk.minFreeBytes <= 0) return chosen;
    let free: number;
    try {
      free = await disk.probe.freeBytes();
    } catch (err) {
      // Without a reading nothing is evicted for space; age and caps still apply.
      this.log.warn({ err: (err as Error).message, path: disk.probe.path }, "free space could not be read");
      return chosen;
    }
    this.disk.freeBytes = free;
    if (free >= disk.minFreeBytes) {
      if (this.disk.low) this.log.info({ freeBytes: free, minFreeBytes: disk.minFreeBytes, path: disk.probe.path }, "disk space is back above the minimum");
      this.disk.low = false;
      this.exhaustedLogged = false;
      return chosen;
    }
    if (!this.disk.low) {
      this.disk.lowEpisodes++;
      this.log.warn({ freeBytes: free, minFreeBytes: disk.minFreeBytes, path: disk.probe.path }, "disk space below IFC_RETENTION_MIN_FREE_BYTES: deleting the oldest rolling segments");
    }
    this.disk.low = true;
    // What age and caps delete this pass counts towards the shortfall.
    let needed = disk.minFreeBytes - free - [...doomed].reduce((n, c) => n + c.seg.bytes, 0);
    for (const c of [...survivors].sort((a, b) => a.seg.startMs - b.seg.startMs)) {
      if (needed <= 0) break;
      if (!removable(c)) continue;
      chosen.add(c);
      needed -= c.seg.bytes;
    }
    if (needed > 0 && !this.exhaustedLogged) {
      // Only clips, leased segments and the ones being written are left: say so once.
      this.exhaustedLogged = true;
      this.log.error({ freeBytes: free, minFreeBytes: disk.minFreeBytes, path: disk.probe.path, shortBytes: needed }, "disk space still low with no rolling segment left to delete");
    }
    return chosen;
  }
}

