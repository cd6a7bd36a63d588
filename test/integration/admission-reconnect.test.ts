import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { WhipHttpError } from "../helpers/whip-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Admission (IFC_MAX_CPU_PERCENT) refuses newcomers only: the identity that already publishes a
 * stream comes back through it whatever the CPU (here a re-POST while the server still holds
 * the stream, as after a network cut it has not noticed yet). In-process, the meter counts the
 * test's publisher too: the limit of 1 % is exceeded as soon as media flows.
 */
const LIMIT_PERCENT = 1;
let ts: TestServer;
const pubs: TestStreamPublisher[] = [];

beforeAll(async () => {
  ts = await startTestServer({ maxCpuPercent: LIMIT_PERCENT });
});
afterAll(async () => {
  for (const p of pubs) await p.stop().catch(() => undefined);
  await ts?.stop();
});

async function metric(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("admission and reconnects", () => {
  it("a re-POST by the stream's own publisher is admitted while a new stream is refused", async () => {
    const opts = { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false } as const;
    pubs.push(await publishTestStream(`${ts.url}/whip/cam`, opts));
    await waitFor(async () => ((await metric("ifc_cpu_percent")) ?? 0) > LIMIT_PERCENT, { timeoutMs: 20_000, intervalMs: 100, what: `ifc_cpu_percent above ${LIMIT_PERCENT}` });

    const refused = await publishTestStream(`${ts.url}/whip/other`, opts).then(
      (p) => {
        pubs.push(p);
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(WhipHttpError);
    expect((refused as WhipHttpError).status).toBe(503);
    expect((refused as WhipHttpError).body).toMatch(/cpu-saturated/);

    // Still above the limit (the first publisher streams on), the same identity takes its stream back.
    expect((await metric("ifc_cpu_percent")) ?? 0).toBeGreaterThan(LIMIT_PERCENT);
    const again = await publishTestStream(`${ts.url}/whip/cam`, opts);
    pubs.push(again);
    const stream = (await (await fetch(`${ts.url}/api/v1/streams/cam`)).json()) as { sessionId: string };
    expect(again.resourceUrl).toContain(stream.sessionId);
    expect(await metric('ifc_admission_refused_total{kind="whip"}')).toBe(1);
  });
});
