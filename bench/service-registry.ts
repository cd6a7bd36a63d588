/**
 * Service registry overhead: acquire()+done() per second (3 instances, least-connections), and a
 * unary gRPC round trip through a lease's pooled channel vs a plain client, on 127.0.0.1.
 * Run: npx tsx bench/service-registry.ts
 */
import { credentials } from "@grpc/grpc-js";
import { CameraStreamServiceClient } from "../src/generated/imageflow/v1/camera_stream.js";
import { ServiceRegistry } from "../src/pipelines/service-registry.js";
import { startHealthServer } from "../test/support/health-server.js";

const RESIZE = "imageflow.v1.ResizeService";
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function main(): Promise<void> {
  const servers = await Promise.all([0, 1, 2].map(() => startHealthServer({ "": "SERVING", [RESIZE]: "SERVING" })));
  const reg = new ServiceRegistry({ instances: servers.map((s) => ({ service: RESIZE, address: s.address })) });
  const n = 200_000;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) reg.acquire(RESIZE).done({ ok: true, durationMs: 1 });
  const perSec = n / ((performance.now() - t0) / 1000);

  const call = (c: InstanceType<typeof CameraStreamServiceClient>) => new Promise<void>((res, rej) => c.healthCheck({ service: "" }, (e) => (e ? rej(e) : res())));
  const plain = new CameraStreamServiceClient(servers[0]!.address, credentials.createInsecure());
  const viaLease: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < 2_000 + 200; i++) {
    t0 = performance.now();
    await call(plain);
    if (i >= 200) direct.push(performance.now() - t0);
    t0 = performance.now();
    const lease = reg.acquire(RESIZE);
    await call(lease.makeClient(CameraStreamServiceClient));
    const d = performance.now() - t0;
    lease.done({ ok: true, durationMs: d });
    if (i >= 200) viaLease.push(d);
  }
  console.log(JSON.stringify({
    acquire_done_per_s: Math.round(perSec),
    unary_direct_ms: { p50: +pct(direct, 0.5).toFixed(3), p95: +pct(direct, 0.95).toFixed(3) },
    unary_via_lease_ms: { p50: +pct(viaLease, 0.5).toFixed(3), p95: +pct(viaLease, 0.95).toFixed(3) },
  }));
  plain.close();
  reg.close();
  for (const s of servers) s.kill();
}

void main();
