import { connectivityState } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { CameraStreamServiceClient } from "../../src/generated/imageflow/v1/camera_stream.js";
import { NoServiceAvailableError } from "../../src/pipelines/registry-errors.js";
import { ServiceRegistry, type RegistryEvent, type ServiceLease, type ServiceRegistryOptions } from "../../src/pipelines/service-registry.js";
import { startHealthServer, type TestHealthServer } from "../support/health-server.js";
import { ManualTimers } from "../support/manual-timers.js";
import { waitFor } from "../support/wait-for.js";

// Real grpc-js servers on 127.0.0.1:0 answering grpc.health.v1; the registry's health period and
// timeout run on a manual clock, so a "10 s" period is one advance() and a wait for the answers.
const RESIZE = "imageflow.v1.ResizeService";
const INTERVAL = 10_000;

const servers: TestHealthServer[] = [];
let reg: ServiceRegistry | undefined;
afterEach(() => {
  reg?.close();
  reg = undefined;
  for (const s of servers.splice(0)) s.kill();
});

async function server(statuses: Record<string, "SERVING" | "NOT_SERVING" | "UNKNOWN"> = { "": "SERVING", [RESIZE]: "SERVING" }, hang = false): Promise<TestHealthServer> {
  const s = await startHealthServer(statuses, { hang });
  servers.push(s);
  return s;
}

function make(o: ServiceRegistryOptions): { r: ServiceRegistry; timers: ManualTimers; events: RegistryEvent[] } {
  const timers = new ManualTimers();
  const r = new ServiceRegistry({ timers, healthIntervalMs: INTERVAL, poolSize: 2, ...o });
  reg = r;
  const events: RegistryEvent[] = [];
  r.onChange((e) => events.push(e));
  return { r, timers, events };
}

/** Waits until every listed instance has answered the health check made at the clock's current time. */
async function checked(r: ServiceRegistry, timers: ManualTimers): Promise<void> {
  const at = new Date(timers.now()).toISOString();
  await waitFor(() => r.list().every((x) => x.last_health_check === at), { what: `health checks at ${at}` });
}

async function nextRound(r: ServiceRegistry, timers: ManualTimers): Promise<void> {
  timers.advance(INTERVAL);
  await checked(r, timers);
}

const statusOf = (r: ServiceRegistry, address: string) => r.list().find((x) => x.address === address)?.status;
const healthEvents = (events: RegistryEvent[]) => events.flatMap((e) => (e.type === "health" ? [`${e.instance.address} ${e.from}>${e.to}`] : []));

describe("ServiceRegistry over real gRPC", () => {
  it("follows grpc.health.v1 on the period: SERVING → NOT_SERVING → SERVING", async () => {
    const s = await server();
    const { r, timers, events } = make({ instances: [{ service: "ResizeService", address: s.address }] });
    r.start();
    await checked(r, timers);
    expect(r.list()[0]).toMatchObject({ status: "SERVING", consecutive_health_failures: 0, last_health_check: new Date(timers.now()).toISOString() });
    r.acquire(RESIZE).done({ ok: true, durationMs: 3 });

    s.health.setStatus(RESIZE, "NOT_SERVING");
    timers.advance(INTERVAL - 1);
    expect(statusOf(r, s.address)).toBe("SERVING"); // not checked before the period is over
    timers.advance(1);
    await checked(r, timers);
    expect(r.list()[0]).toMatchObject({ status: "NOT_SERVING", consecutive_health_failures: 1 });
    const e = catchIt(() => r.acquire(RESIZE));
    expect(e).toBeInstanceOf(NoServiceAvailableError);
    expect(e).toMatchObject({ reason: "no-healthy-instance", retryAfterMs: INTERVAL });

    s.health.setStatus(RESIZE, "SERVING");
    await nextRound(r, timers);
    expect(r.list()[0]).toMatchObject({ status: "SERVING", consecutive_health_failures: 0 });
    expect(r.acquire(RESIZE).instance.address).toBe(s.address);
    expect(healthEvents(events)).toEqual([`${s.address} UNKNOWN>SERVING`, `${s.address} SERVING>NOT_SERVING`, `${s.address} NOT_SERVING>SERVING`]);
  });

  it("a server that does not know the service is NOT_SERVING, with the reason", async () => {
    const s = await server({ "": "SERVING" });
    const { r, timers } = make({ instances: [{ service: RESIZE, address: s.address }] });
    r.start();
    await checked(r, timers);
    expect(r.list()[0]).toMatchObject({ status: "NOT_SERVING" });
    expect(r.list()[0]!.last_error).toMatch(/^health: /);
  });

  it("a killed instance becomes UNREACHABLE and is not chosen; the other takes every call", async () => {
    const [a, b] = [await server(), await server()];
    const { r, timers } = make({ instances: [a, b].map((s) => ({ service: RESIZE, address: s.address })) });
    r.start();
    await checked(r, timers);
    expect(r.list().map((x) => x.status)).toEqual(["SERVING", "SERVING"]);
    a.kill();
    await nextRound(r, timers);
    expect(statusOf(r, a.address)).toBe("UNREACHABLE");
    expect(r.list().find((x) => x.address === a.address)!.last_error).toMatch(/^health: (UNAVAILABLE|CANCELLED)/); // refused, or cut by the shutdown
    const leases: ServiceLease[] = [];
    for (let i = 0; i < 6; i++) leases.push(r.acquire(RESIZE)); // held: least-connections would spread them
    expect(new Set(leases.map((l) => l.instance.address))).toEqual(new Set([b.address]));
  });

  it("a health check without answer times out on the injected clock", async () => {
    const s = await server({}, true);
    const { r, timers } = make({ healthTimeoutMs: 2_000, instances: [{ service: RESIZE, address: s.address }] });
    r.start();
    timers.advance(1_999);
    expect(statusOf(r, s.address)).toBe("UNKNOWN");
    timers.advance(1);
    await checked(r, timers);
    expect(r.list()[0]).toMatchObject({ status: "UNREACHABLE", last_error: "health: no answer within 2000 ms" });
    // A check still waiting is cancelled by close(): no timer is left behind.
    timers.advance(INTERVAL - 2_000);
    expect(timers.armed).toBe(2); // the next period and this check's timeout
    r.close();
    expect(timers.armed).toBe(0);
  });

  it("a registered instance failing checks for registeredExpiryMs is removed; a config one stays", async () => {
    const [cfg, dyn] = [await server(), await server()];
    const { r, timers, events } = make({ registeredExpiryMs: 60_000, instances: [{ service: RESIZE, address: cfg.address }] });
    r.start();
    await checked(r, timers);
    r.register("ResizeService", dyn.address); // checked at once, not a period later
    await checked(r, timers);
    expect(r.list().map((x) => [x.source, x.status])).toEqual([["config", "SERVING"], ["registered", "SERVING"]]);
    cfg.kill();
    dyn.kill();
    for (let i = 0; i < 6; i++) await nextRound(r, timers); // failing since the first: 50 s
    expect(r.list().map((x) => x.source)).toEqual(["config", "registered"]);
    timers.advance(INTERVAL); // 60 s of failures
    await waitFor(() => r.list().length === 1, { what: "expiry" });
    expect(r.list()[0]).toMatchObject({ source: "config", status: "UNREACHABLE", consecutive_health_failures: 7 });
    expect(events.filter((e) => e.type === "instance-removed")).toEqual([{ type: "instance-removed", instance: { instance_id: `${RESIZE}@${dyn.address}`, service: RESIZE, address: dyn.address }, reason: "expired" }]);
  });

  it("the health timer moves an open breaker to half-open without traffic, and says so", async () => {
    const s = await server();
    const { r, timers, events } = make({ breakerOpenMs: 30_000, instances: [{ service: RESIZE, address: s.address }] });
    r.start();
    await checked(r, timers);
    for (let i = 0; i < 5; i++) r.acquire(RESIZE).done({ ok: false, code: 14, durationMs: 1 });
    const breakerEvents = () => events.flatMap((e) => (e.type === "breaker" ? [`${e.from}>${e.to}`] : []));
    expect(breakerEvents()).toEqual(["closed>open"]);
    for (let i = 0; i < 3; i++) await nextRound(r, timers);
    expect(breakerEvents()).toEqual(["closed>open", "open>half-open"]);
  });

  it("spreads calls over the N pooled channels round-robin, each its own connection", async () => {
    const s = await server();
    const { r, timers } = make({ poolSize: 3, instances: [{ service: RESIZE, address: s.address }] });
    r.start();
    await checked(r, timers);
    const channels = new Set<unknown>();
    for (let i = 0; i < 9; i++) {
      const lease = r.acquire(RESIZE);
      channels.add(lease.channel);
      const client = lease.makeClient(CameraStreamServiceClient);
      const t0 = Date.now();
      await new Promise<void>((resolve, reject) => client.healthCheck({ service: "" }, (err) => (err ? reject(err) : resolve())));
      lease.done({ ok: true, durationMs: Date.now() - t0 });
    }
    expect(channels.size).toBe(3);
    expect(s.peers).toHaveLength(9);
    // Round-robin: call i and call i+3 came on the same connection, calls i..i+2 on three.
    expect(new Set(s.peers).size).toBe(3);
    expect(s.peers.slice(3, 6)).toEqual(s.peers.slice(0, 3));
    expect(r.list()[0]!.avg_response_ms).not.toBeNull();

    const all = [...channels] as ServiceLease["channel"][];
    r.close();
    expect(all.map((c) => c.getConnectivityState(false))).toEqual([connectivityState.SHUTDOWN, connectivityState.SHUTDOWN, connectivityState.SHUTDOWN]);
    expect(timers.armed).toBe(0);
  });
});

function catchIt(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}
