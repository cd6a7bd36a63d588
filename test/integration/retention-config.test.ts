import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer, type Server } from "../../src/server.js";
import { readStored, storeRecording } from "../unit/recorder/stored-recordings.js";

/** The retention settings as an operator writes them (environment), through the real server's wiring. */
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
let server: Server;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "ifc-retcfg-"));
  const config = loadConfig(
    { IFC_RETENTION_MINUTES_BY_STREAM: "dock=1", IFC_RETENTION_MINUTES: "15", IFC_RETENTION_TOTAL_BYTES: "14000", IFC_RETENTION_INTERVAL_MS: "3600000" },
    { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, logLevel: "warn", aiEnabled: false, grpcEnabled: false },
  );
  server = await startServer(config, pino({ level: "warn" }));
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("retention settings from the environment", () => {
  it("IFC_RETENTION_MINUTES_BY_STREAM=dock=1 ages dock out after 1 minute while cam1 keeps 15; then IFC_RETENTION_TOTAL_BYTES caps the rest", async () => {
    await storeRecording(server.store, "dock", "recd", T0, 10, 1000);
    await storeRecording(server.store, "cam1", "recc", T0 + 1, 10, 1000);
    // dock's segments 0..4 end by T0+20 s, before the 1-minute window at this instant.
    const r = await server.retention.runOnce(T0 + 22_000 + 60_000);
    expect((await readStored(server.store, "dock", "recd"))?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    // 5 + 10 segments of 1000 B left, cap 14000: cam1's oldest goes, the cap is then met.
    expect((await readStored(server.store, "cam1", "recc"))?.segments.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.deletedSegments).toBe(6);
  });
});
