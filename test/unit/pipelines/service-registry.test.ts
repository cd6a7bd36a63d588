import { connectivityState, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NoServiceAvailableError, RegistryClosedError, RegistryFullError } from "../../../src/pipelines/registry-errors.js";
import { InvalidInstanceError } from "../../../src/pipelines/service-names.js";
import { ServiceRegistry, type RegistryEvent, type ServiceRegistryOptions } from "../../../src/pipelines/service-registry.js";
import { ManualTimers } from "../../support/manual-timers.js";

// No server is needed here: an instance never checked is UNKNOWN and eligible, and channels
// connect lazily, so leases, outcomes and breakers are exercised without network traffic.
const RESIZE = "imageflow.v1.ResizeService";
const A = "127.0.0.1:50001";
const B = "127.0.0.1:50002";
const C = "127.0.0.1:50003";

let reg: ServiceRegistry | undefined;
afterEach(() => {
  reg?.close();
  reg = undefined;
});

function make(o: ServiceRegistryOptions = {}): { r: ServiceRegistry; timers: ManualTimers; events: RegistryEvent[] } {
  const timers = new ManualTimers();
  const r = new ServiceRegistry({ timers, poolSize: 2, ...o });
  reg = r;
  const events: RegistryEvent[] = [];
  r.onChange((e) => events.push(e));
  return { r, timers, events };
}

const fail = (code: number = status.UNAVAILABLE) => ({ ok: false, code, durationMs: 5 });
const ok = (durationMs = 5) => ({ ok: true, durationMs });

describe("ServiceRegistry: instances", () => {
  it("accepts short and full service names and lists config instances", () => {
    const { r } = make({ instances: [{ service: "ResizeService", address: A }, { service: RESIZE, address: A }, { service: "FilterService", address: B }] });
    const rows = r.list();
    expect(rows.map((x) => [x.instance_id, x.service, x.source, x.status, x.breaker_state])).toEqual([
      [`${RESIZE}@${A}`, RESIZE, "config", "UNKNOWN", "closed"],
      [`imageflow.v1.FilterService@${B}`, "imageflow.v1.FilterService", "config", "UNKNOWN", "closed"],
    ]);
    expect(rows[0]).toMatchObject({ current_connections: 0, avg_response_ms: null, last_health_check: null, last_error: null, consecutive_failures: 0, pool_size: 2 });
    expect(r.list("FilterService")).toHaveLength(1);
    expect(r.services()).toEqual([RESIZE, "imageflow.v1.FilterService"]);
  });

  it("rejects malformed names and addresses with a typed error", () => {
    expect(() => make({ instances: [{ service: RESIZE, address: "nohost" }] })).toThrow(InvalidInstanceError);
    const { r } = make();
    expect(() => r.register(RESIZE, "127.0.0.1:70000")).toThrow(InvalidInstanceError);
    expect(() => r.register("bad name!", A)).toThrow(InvalidInstanceError);
    expect(r.register("acme.v2.Thing", "[::1]:9000").service).toBe("acme.v2.Thing");
  });

  it("register is idempotent by address; deregister removes registered ones only", () => {
    const { r, events } = make({ instances: [{ service: RESIZE, address: A }] });
    const b1 = r.register("ResizeService", B);
    const b2 = r.register(RESIZE, B);
    expect(b2).toEqual(b1);
    expect(r.register(RESIZE, A).instance_id).toBe(`${RESIZE}@${A}`);
    expect(r.list().map((x) => x.source)).toEqual(["config", "registered"]);
    expect(r.deregister(RESIZE, A)).toBe(false);
    expect(r.deregister(RESIZE, B)).toBe(true);
    expect(r.deregister(RESIZE, B)).toBe(false);
    expect(r.list().map((x) => x.address)).toEqual([A]);
    expect(events.filter((e) => e.type === "instance-added" || e.type === "instance-removed").map((e) => e.type)).toEqual(["instance-added", "instance-removed"]);
  });

  it("refuses registrations beyond maxRegisteredInstances (config ones not counted)", () => {
    const { r } = make({ instances: [{ service: RESIZE, address: A }], maxRegisteredInstances: 2 });
    r.register(RESIZE, B);
    r.register(RESIZE, C);
    r.register(RESIZE, C); // already there: not a new one
    expect(() => r.register(RESIZE, "127.0.0.1:50004")).toThrow(RegistryFullError);
    r.deregister(RESIZE, C);
    expect(r.register(RESIZE, "127.0.0.1:50004").address).toBe("127.0.0.1:50004");
  });

  it("validates its options", () => {
    expect(() => new ServiceRegistry({ poolSize: 0 })).toThrow(RangeError);
    expect(() => new ServiceRegistry({ healthIntervalMs: -1 })).toThrow(RangeError);
    expect(() => new ServiceRegistry({ ewmaAlpha: 0 })).toThrow(RangeError);
    expect(() => new ServiceRegistry({ strategy: "fastest" as never })).toThrow(RangeError);
  });
});

describe("ServiceRegistry: choosing an instance", () => {
  it("least-connections picks the idle instance while leases are held", () => {
    const { r } = make({ instances: [A, B, C].map((address) => ({ service: RESIZE, address })) });
    const first = [r.acquire(RESIZE), r.acquire(RESIZE), r.acquire(RESIZE)];
    expect(new Set(first.map((l) => l.instance.address)).size).toBe(3);
    // B is freed: the only idle instance, so it gets the next lease.
    first.find((l) => l.instance.address === B)!.done(ok());
    const next = r.acquire(RESIZE);
    expect(next.instance.address).toBe(B);
    expect(r.list().map((x) => x.current_connections)).toEqual([1, 1, 1]);
    for (const l of [...first, next]) l.done(ok());
    expect(r.list().map((x) => x.current_connections)).toEqual([0, 0, 0]);
  });

  it("response-time picks the instance with the faster EWMA", () => {
    const { r } = make({ strategy: "response-time", instances: [A, B].map((address) => ({ service: RESIZE, address })) });
    // Untimed instances are tried first, one each.
    const l1 = r.acquire(RESIZE);
    const l2 = r.acquire(RESIZE);
    expect(new Set([l1.instance.address, l2.instance.address])).toEqual(new Set([A, B]));
    (l1.instance.address === A ? l1 : l2).done(ok(80));
    (l1.instance.address === B ? l1 : l2).done(ok(20));
    for (let i = 0; i < 5; i++) {
      const l = r.acquire(RESIZE);
      expect(l.instance.address).toBe(B);
      l.done(ok(20));
    }
    // One slow answer from B: its EWMA (alpha 0.3) goes 20 → 134 ms, above A's 80.
    const slow = r.acquire(RESIZE);
    expect(slow.instance.address).toBe(B);
    slow.done(ok(400));
    const avg = Object.fromEntries(r.list().map((x) => [x.address, x.avg_response_ms]));
    expect(avg).toEqual({ [A]: 80, [B]: 134 });
    expect(r.acquire(RESIZE).instance.address).toBe(A);
  });

  it("random uses the injected random", () => {
    const draws = [0.0, 0.99, 0.5, 0.34];
    const { r } = make({ strategy: "random", random: () => draws.shift() ?? 0, instances: [A, B, C].map((address) => ({ service: RESIZE, address })) });
    expect([0, 1, 2, 3].map(() => r.acquire(RESIZE).instance.address)).toEqual([A, C, B, B]);
  });

  it("exclude avoids the instance that just failed, by id or address", () => {
    const { r } = make({ instances: [A, B].map((address) => ({ service: RESIZE, address })) });
    for (let i = 0; i < 4; i++) expect(r.acquire(RESIZE, { exclude: [A] }).instance.address).toBe(B);
    expect(r.acquire(RESIZE, { exclude: [`${RESIZE}@${B}`] }).instance.address).toBe(A);
    const e = catchIt(() => r.acquire(RESIZE, { exclude: [A, B] }));
    expect(e).toMatchObject({ reason: "no-healthy-instance", service: RESIZE });
  });

  it("NoServiceAvailableError: unknown-service", () => {
    const { r } = make({ instances: [{ service: RESIZE, address: A }] });
    for (const s of ["FilterService", "imageflow.v1.AIDetectionService", "not a name"]) {
      const e = catchIt(() => r.acquire(s));
      expect(e).toBeInstanceOf(NoServiceAvailableError);
      expect(e).toMatchObject({ reason: "unknown-service" });
    }
  });

  it("makeClient gives a client bound to the lease's channel, cached per channel", async () => {
    const { CameraStreamServiceClient } = await import("../../../src/generated/imageflow/v1/camera_stream.js");
    const { r } = make({ poolSize: 2, instances: [{ service: RESIZE, address: A }] });
    const l1 = r.acquire(RESIZE);
    const l2 = r.acquire(RESIZE);
    const l3 = r.acquire(RESIZE);
    expect(l1.channel).not.toBe(l2.channel);
    expect(l3.channel).toBe(l1.channel);
    const c1 = l1.makeClient(CameraStreamServiceClient);
    expect(c1.getChannel()).toBe(l1.channel);
    expect(l3.makeClient(CameraStreamServiceClient)).toBe(c1);
    expect(l2.makeClient(CameraStreamServiceClient).getChannel()).toBe(l2.channel);
    expect(l1.callTimeoutMs).toBe(5_000);
  });
});

describe("ServiceRegistry: breaker per instance", () => {
  it("opens after 5 instance failures, half-opens after 30 s on the injected clock, closes after 3 successes", () => {
    const { r, timers, events } = make({ instances: [{ service: RESIZE, address: A }] });
    for (let i = 0; i < 4; i++) r.acquire(RESIZE).done(fail(i % 2 ? status.DEADLINE_EXCEEDED : status.UNAVAILABLE));
    expect(r.list()[0]).toMatchObject({ breaker_state: "closed", consecutive_failures: 4, last_error: "call: DEADLINE_EXCEEDED" });
    r.acquire(RESIZE).done(fail(status.RESOURCE_EXHAUSTED));
    expect(r.list()[0]!.breaker_state).toBe("open");
    const e = catchIt(() => r.acquire(RESIZE));
    expect(e).toMatchObject({ reason: "breaker-open", retryAfterMs: 30_000 });
    timers.advance(29_999);
    expect(catchIt(() => r.acquire(RESIZE))).toMatchObject({ reason: "breaker-open", retryAfterMs: 1 });
    timers.advance(1);
    expect(r.list()[0]!.breaker_state).toBe("half-open");
    // One probe at a time while half-open.
    const probe = r.acquire(RESIZE);
    expect(catchIt(() => r.acquire(RESIZE))).toMatchObject({ reason: "breaker-open" });
    probe.done(ok());
    r.acquire(RESIZE).done(ok());
    expect(r.list()[0]!.breaker_state).toBe("half-open");
    r.acquire(RESIZE).done(ok());
    expect(r.list()[0]!.breaker_state).toBe("closed");
    expect(events.filter((x) => x.type === "breaker").map((x) => (x.type === "breaker" ? `${x.from}>${x.to}` : ""))).toEqual(["closed>open", "open>half-open", "half-open>closed"]);
  });

  it("a failed probe reopens it", () => {
    const { r, timers } = make({ instances: [{ service: RESIZE, address: A }] });
    for (let i = 0; i < 5; i++) r.acquire(RESIZE).done(fail(status.INTERNAL));
    timers.advance(30_000);
    r.acquire(RESIZE).done(fail(status.UNKNOWN));
    expect(r.list()[0]!.breaker_state).toBe("open");
  });

  it("caller errors (INVALID_ARGUMENT, NOT_FOUND) count as successes, CANCELLED as nothing", () => {
    const { r } = make({ instances: [{ service: RESIZE, address: A }] });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) r.acquire(RESIZE).done(fail(status.UNAVAILABLE));
      r.acquire(RESIZE).done(fail(round === 0 ? status.INVALID_ARGUMENT : status.NOT_FOUND));
    }
    expect(r.list()[0]).toMatchObject({ breaker_state: "closed", consecutive_failures: 0 });
    for (let i = 0; i < 4; i++) r.acquire(RESIZE).done(fail(status.UNAVAILABLE));
    r.acquire(RESIZE).done(fail(status.CANCELLED));
    expect(r.list()[0]).toMatchObject({ breaker_state: "closed", consecutive_failures: 4 });
    r.acquire(RESIZE).done({ ok: false, durationMs: 1 }); // no code: the instance's failure
    expect(r.list()[0]!.breaker_state).toBe("open");
  });

  it("skips an open instance for a healthy one, and done() twice counts once", () => {
    const { r } = make({ instances: [A, B].map((address) => ({ service: RESIZE, address })) });
    for (let i = 0; i < 5; i++) r.acquire(RESIZE, { exclude: [B] }).done(fail());
    for (let i = 0; i < 3; i++) expect(r.acquire(RESIZE).instance.address).toBe(B);
    const l = r.acquire(RESIZE);
    l.done(ok());
    l.done(ok());
    expect(r.list().find((x) => x.address === B)!.current_connections).toBe(3);
  });
});

describe("ServiceRegistry: removal under load", () => {
  it("a deregistered instance is no longer chosen; its channels close when its last call is done", () => {
    const { r } = make({ instances: [{ service: RESIZE, address: A }] });
    r.register(RESIZE, B);
    const leases = [r.acquire(RESIZE), r.acquire(RESIZE)];
    const onB = leases.find((l) => l.instance.address === B)!;
    expect(r.deregister(RESIZE, B)).toBe(true);
    expect(onB.channel.getConnectivityState(false)).not.toBe(connectivityState.SHUTDOWN);
    for (let i = 0; i < 3; i++) expect(r.acquire(RESIZE).instance.address).toBe(A);
    onB.done(fail());
    expect(onB.channel.getConnectivityState(false)).toBe(connectivityState.SHUTDOWN);
    // Registering the same address again starts afresh.
    expect(r.register(RESIZE, B).address).toBe(B);
    expect(r.list().find((x) => x.address === B)).toMatchObject({ current_connections: 0, consecutive_failures: 0 });
  });
});

describe("ServiceRegistry: listeners", () => {
  it("a throwing listener does not break leases or other listeners", () => {
    const { r, events } = make({ instances: [{ service: RESIZE, address: A }] });
    r.onChange(() => {
      throw new Error("listener bug");
    });
    const after: RegistryEvent[] = [];
    r.onChange((e) => after.push(e));
    for (let i = 0; i < 5; i++) r.acquire(RESIZE).done(fail());
    expect(r.list()[0]!.breaker_state).toBe("open");
    expect(events.filter((e) => e.type === "breaker")).toHaveLength(1);
    expect(after.map((e) => e.type)).toEqual(["breaker"]);
  });
});

describe("ServiceRegistry: close", () => {
  it("leaves no timer and no open channel, and refuses further use", () => {
    const { r, timers } = make({ instances: [{ service: RESIZE, address: A }] });
    r.start();
    expect(timers.armed).toBeGreaterThan(0);
    const l = r.acquire(RESIZE);
    r.close();
    expect(timers.armed).toBe(0);
    expect(l.channel.getConnectivityState(false)).toBe(connectivityState.SHUTDOWN);
    expect(() => r.acquire(RESIZE)).toThrow(RegistryClosedError);
    expect(() => r.register(RESIZE, B)).toThrow(RegistryClosedError);
    l.done(ok()); // harmless after close
    r.close();
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
