import { pino } from "pino";
import { createApp } from "../../../src/control/app.js";
import { describe, expect, it } from "vitest";
import { metricsRoutes } from "../../../src/control/metrics.js";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import type { UploadFigures, UploadStats } from "../../../src/ports/upload-stats.js";

/** An uploader as the port describes it: figures the test sets, lags taken once. */
class Uploads implements UploadStats {
  stats: UploadFigures = { queuedObjects: 0, memoryBytes: 0, spoolBytes: 0, uploaded: 0, failures: 0 };
  lags: number[] = [];
  takeLags(): number[] {
    const out = this.lags;
    this.lags = [];
    return out;
  }
}

async function scrape(uploads: UploadStats | undefined): Promise<() => Promise<string>> {
  const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
  await app.register(metricsRoutes, { registry: new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8 }), uploads });
  return async () => (await app.inject({ method: "GET", url: "/metrics" })).body;
}

describe("/metrics upload figures (read through the UploadStats port)", () => {
  it("exports queue sizes as gauges and cumulative uploads and failures as _total counters", async () => {
    const uploads = new Uploads();
    const get = await scrape(uploads);
    uploads.stats = { queuedObjects: 3, memoryBytes: 4096, spoolBytes: 1_000_000, uploaded: 10, failures: 2 };
    uploads.lags = [250, 1500];
    let text = await get();
    expect(text).toMatch(/^# TYPE ifc_upload_queue_objects gauge\nifc_upload_queue_objects 3$/m);
    expect(text).toMatch(/^ifc_upload_queue_memory_bytes 4096$/m);
    expect(text).toMatch(/^ifc_upload_spool_bytes 1000000$/m);
    expect(text).toMatch(/^# TYPE ifc_uploads_total counter\nifc_uploads_total 10$/m);
    expect(text).toMatch(/^# TYPE ifc_upload_failures_total counter\nifc_upload_failures_total 2$/m);
    expect(text).toMatch(/^ifc_upload_lag_seconds_count 2$/m);

    // The next scrape shows the new totals (not the sum of scrapes) and the queue draining.
    uploads.stats = { queuedObjects: 0, memoryBytes: 0, spoolBytes: 0, uploaded: 13, failures: 2 };
    text = await get();
    expect(text).toMatch(/^ifc_uploads_total 13$/m);
    expect(text).toMatch(/^ifc_upload_failures_total 2$/m);
    expect(text).toMatch(/^ifc_upload_queue_objects 0$/m);
    expect(text).toMatch(/^ifc_upload_lag_seconds_count 2$/m); // each lag observed once
  });

  it("has no upload metrics when nothing uploads (IFC_STORE=fs)", async () => {
    const text = await (await scrape(undefined))();
    expect(text).toMatch(/^# TYPE ifc_live_streams gauge$/m);
    expect(text).not.toMatch(/ifc_upload/);
  });
});

describe("/metrics disk and event-bus figures", () => {
  it("exports free space as gauges, low-disk evictions and bus subscriber faults as _total counters", async () => {
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    const disk = { diskStats: { path: "/data" as string | undefined, freeBytes: undefined as number | undefined, minFreeBytes: 1000, low: false, lowEvictions: 0, lowEpisodes: 0 } };
    const zero = { published: 0, delivered: 0, failed: 0, deadLettered: 0, dropped: 0, queued: 0 };
    const events = { stats: () => zero };
    await app.register(metricsRoutes, { registry: new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8 }), uploads: undefined, disk, events });
    const get = async () => (await app.inject({ method: "GET", url: "/metrics" })).body;
    let text = await get();
    expect(text).not.toMatch(/^ifc_disk_free_bytes\b/m); // not measured yet
    expect(text).toMatch(/^ifc_disk_min_free_bytes 1000$/m);
    expect(text).toMatch(/^ifc_disk_low 0$/m);
    disk.diskStats = { path: "/data", freeBytes: 999, minFreeBytes: 1000, low: true, lowEvictions: 4, lowEpisodes: 1 };
    events.stats = () => ({ published: 11, delivered: 9, failed: 2, deadLettered: 2, dropped: 7, queued: 3 });
    text = await get();
    expect(text).toMatch(/^# TYPE ifc_disk_free_bytes gauge\nifc_disk_free_bytes\{path="\/data"\} 999$/m);
    expect(text).toMatch(/^ifc_disk_low 1$/m);
    expect(text).toMatch(/^# TYPE ifc_disk_low_evictions_total counter\nifc_disk_low_evictions_total 4$/m);
    expect(text).toMatch(/^ifc_disk_low_episodes_total 1$/m);
    expect(text).toMatch(/^ifc_events_published_total 11$/m);
    expect(text).toMatch(/^ifc_events_delivered_total 9$/m);
    expect(text).toMatch(/^ifc_events_failed_total 2$/m);
    expect(text).toMatch(/^ifc_events_dead_lettered_total 2$/m);
    expect(text).toMatch(/^ifc_events_dropped_total 7$/m);
    expect(text).toMatch(/^# TYPE ifc_events_queued gauge\nifc_events_queued 3$/m);
  });
});
