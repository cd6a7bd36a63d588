import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import type { ObjectStore } from "../../src/ports/object-store.js";
import { ImageServices } from "../../src/worker/services/image-services.js";
import { freePort } from "../support/free-port.js";
import { sharedKafka } from "../support/kafka-broker.js";
import { partImage } from "../support/part-image.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/** The server's fs store, with reads that wait at a gate the test opens (a call held in flight). */
class GatedStore {
  private gateOpen = false;
  private waiting: (() => void)[] = [];
  reads = 0;
  constructor(private readonly inner: ObjectStore) {}
  get store(): ObjectStore {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === "get") {
          return async (key: string) => {
            this.reads++;
            if (!this.gateOpen) await new Promise<void>((r) => this.waiting.push(r));
            return target.get(key);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
  open(): void {
    this.gateOpen = true;
    for (const w of this.waiting.splice(0)) w();
  }
}

const pipeline = {
  pipeline_id: "chain",
  name: "Chain",
  version: "1",
  execution_mode: "direct_grpc",
  steps: [
    { step_id: "resize", service: "ResizeService", method: "Resize", parameters: { target_width: 640, target_height: 360 }, timeout_ms: 20_000, retry_count: 3 },
    { step_id: "detect", service: "AIDetectionService", method: "Detect", depends_on: ["resize"], parameters: {}, timeout_ms: 20_000, retry_count: 3 },
  ],
  error_handling: { strategy: "fail_fast", rollback_enabled: false, notification_on_failure: false },
};

describe("pipelines survive lost services and restarts", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function services(dataDir: string, port = 0, gated?: GatedStore): Promise<{ svc: ImageServices; address: string }> {
    const store = gated?.store ?? new FsObjectStore(dataDir);
    const svc = new ImageServices({ store, bucket: "imageflow", services: ["resize", "detection"] });
    const bound = await svc.listen(`127.0.0.1:${port}`);
    cleanups.push(() => svc.close(0));
    return { svc, address: `127.0.0.1:${bound}` };
  }

  async function submit(ts: TestServer): Promise<string> {
    const img = await partImage({ width: 960, height: 540, defects: [{ kind: "dark_spot", cx: 300, cy: 250, radius: 12 }] });
    const form = new FormData();
    form.append("pipeline_id", "chain");
    form.append("input_files", new Blob([img.data], { type: "image/jpeg" }), "part.jpg");
    const r = await fetch(`${ts.url}/api/v1/executions`, { method: "POST", body: form });
    expect(r.status).toBe(202);
    return ((await r.json()) as { execution_id: string }).execution_id;
  }

  const execution = async (ts: TestServer, id: string) =>
    (await (await fetch(`${ts.url}/api/v1/executions/${id}`)).json()) as { status: string; execution_mode: string; steps: { step_id: string; status: string; attempts: number; instance: string | null }[] };

  it("moves a step to another instance when the one running it is killed mid-call", async () => {
    const ts0 = await startTestServer({ pipelineEmbeddedServices: "off", pipelineHealthIntervalMs: 60_000 });
    cleanups.push(() => ts0.stop());
    // Two instances over the server's store; both hold their reads until the test opens them.
    const gates = [new GatedStore(new FsObjectStore(ts0.dataDir)), new GatedStore(new FsObjectStore(ts0.dataDir))];
    const a = await services(ts0.dataDir, 0, gates[0]);
    const b = await services(ts0.dataDir, 0, gates[1]);
    for (const inst of [a, b]) {
      for (const service of ["ResizeService", "AIDetectionService"]) {
        const r = await fetch(`${ts0.url}/api/v1/grpc-services`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service, address: inst.address }) });
        expect(r.status).toBe(201);
      }
    }
    expect((await fetch(`${ts0.url}/api/v1/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) })).status).toBe(201);
    const id = await submit(ts0);
    await waitFor(() => gates[0]!.reads + gates[1]!.reads > 0, { what: "the resize call reaching an instance" });
    const victim = gates[0]!.reads > 0 ? 0 : 1;
    const survivor = 1 - victim;
    await [a, b][victim]!.svc.close(0);
    gates[survivor]!.open();
    await waitFor(async () => (await execution(ts0, id)).status === "completed", { timeoutMs: 30_000, what: "completed on the surviving instance" });
    const done = await execution(ts0, id);
    const resize = done.steps.find((s) => s.step_id === "resize")!;
    expect(resize.attempts).toBe(2);
    expect(resize.instance).toContain([a, b][survivor]!.address);
    expect(done.execution_mode).toBe("direct_grpc");
  });

  it("parks executions on Kafka while every instance is down, completes them when one comes back, and loses none across a restart (PostgreSQL)", async () => {
    const brokers = await sharedKafka();
    const db = await sharedPostgresDatabase();
    cleanups.push(() => db.drop());
    const port = await freePort();
    // One data directory for both servers (the uploads live there): the harness's own is removed at stop.
    const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-pl-restart-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const overrides = {
      dataDir,
      pipelineEmbeddedServices: "off" as const, pipelineServices: [`ResizeService=127.0.0.1:${port},AIDetectionService=127.0.0.1:${port}`],
      pipelineHealthIntervalMs: 200, databaseUrl: db.url, eventBus: "kafka" as const, kafkaBrokers: brokers, kafkaReplicationFactor: 1, nodeId: `pl-${process.pid}`,
    };
    const first = await startTestServer(overrides);
    let firstStopped = false;
    cleanups.push(async () => {
      if (!firstStopped) await first.stop();
    });
    expect((await fetch(`${first.url}/api/v1/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) })).status).toBe(201);
    // No instance listens on `port`: the direct path finds the service unreachable.
    const parked = await submit(first);
    await waitFor(async () => (await execution(first, parked)).execution_mode === "kafka_fallback", { timeoutMs: 30_000, what: "the execution parked on the fallback topic" });
    expect((await execution(first, parked)).status).toBe("pending");
    const second = await submit(first);
    await waitFor(async () => (await execution(first, second)).execution_mode === "kafka_fallback", { timeoutMs: 30_000, what: "the second one parked" });

    // The server stops with both accepted and waiting; a new one on the same database and data starts them.
    await first.stop();
    firstStopped = true;
    await services(dataDir, port);
    const next = await startTestServer(overrides);
    cleanups.push(() => next.stop());
    for (const id of [parked, second]) {
      await waitFor(async () => (await execution(next, id)).status === "completed", { timeoutMs: 30_000, what: `${id} completed after the restart` });
      const e = await execution(next, id);
      expect(e.execution_mode).toBe("kafka_fallback");
      expect(e.steps.map((s) => s.status)).toEqual(["completed", "completed"]);
    }
  });
});
