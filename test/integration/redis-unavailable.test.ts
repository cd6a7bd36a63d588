import { createServer, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisConnection } from "../../src/adapters/state/redis-connection.js";
import { RedisRateLimitStore } from "../../src/adapters/state/redis-rate-limit-store.js";
import { RedisSessionRegistry } from "../../src/adapters/state/redis-session-registry.js";
import { RedisSessionStore } from "../../src/adapters/state/redis-session-store.js";
import type { StreamOwner } from "../../src/ports/session-registry.js";
import { StateUnavailableError } from "../../src/ports/state-errors.js";
import { freePort } from "../support/free-port.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { waitFor } from "../support/wait-for.js";

const COMMAND_TIMEOUT_MS = 800;
const CONNECT_TIMEOUT_MS = 800;
/** What "fast" means here: the configured timeout plus slack for a loaded machine. */
const BOUND_MS = COMMAND_TIMEOUT_MS + 1500;

const cam: StreamOwner = { stream: "cam1", nodeId: "node-a", url: "http://a", identity: "device:cam1", sessionId: "s1", state: "live", since: 1_764_400_000_000 };

/** Rejects with StateUnavailableError within BOUND_MS, and says how long it took. */
async function failsFast(call: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(err).toBeInstanceOf(StateUnavailableError);
  expect(ms).toBeLessThan(BOUND_MS);
  return ms;
}

describe("Redis unreachable: state calls fail fast, then recover", () => {
  let server: RedisServer;
  let redis: RedisConnection;
  beforeAll(async () => {
    server = await startRedis();
    redis = new RedisConnection({ url: server.url, commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS, maxReconnectDelayMs: 200 });
  });
  afterAll(async () => {
    await redis?.close();
    await server?.stop();
  });

  it("a Redis that is down: every adapter throws StateUnavailableError at once, and works again when it is back", async () => {
    const registry = new RedisSessionRegistry({ redis });
    const limits = new RedisRateLimitStore({ redis });
    const sessions = new RedisSessionStore({ redis });
    expect((await registry.claim(cam)).outcome).toBe("claimed");

    await server.kill();
    const took = [
      await failsFast(() => registry.claim(cam)),
      await failsFast(() => registry.heartbeat("node-a", [cam])),
      await failsFast(() => registry.list()),
      await failsFast(() => limits.consume("ip:1", 10, 60_000)),
      await failsFast(() => sessions.spend("h")),
      await failsFast(() => sessions.isDenied("j")),
    ];
    console.log(`Redis down: calls failed in ${took.map((t) => t.toFixed(1)).join(", ")} ms`);
    const err = await registry.get("cam1").catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "StateUnavailableError", operation: "session-registry get" });

    await server.restart(); // back, empty
    await waitFor(async () => registry.claim(cam).then((r) => r.outcome === "claimed", () => false), { timeoutMs: 10_000, what: "registry usable again" });
    expect((await limits.consume("ip:1", 10, 60_000)).allowed).toBe(true);
    expect(await sessions.isDenied("j")).toBe(false);
  });

  it("a hung Redis (stopped, its socket open): a call fails after the command timeout, not never", async () => {
    const registry = new RedisSessionRegistry({ redis, keyPrefix: "hung:" });
    await redis.ready();
    server.freeze();
    try {
      const ms = await failsFast(() => registry.claim(cam));
      expect(ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
    } finally {
      server.thaw();
    }
    await waitFor(async () => registry.get("cam1").then(() => true, () => false), { what: "registry answers after thaw" });
  });

  it("a server that accepts but never answers (stuck before ready): a call fails at the connect timeout", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s)); // takes the connection and says nothing
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as AddressInfo).port;
    const stuck = new RedisConnection({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: CONNECT_TIMEOUT_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    try {
      const ms = await failsFast(() => new RedisSessionRegistry({ redis: stuck }).list());
      expect(ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
      expect(stuck.connected).toBe(false);
    } finally {
      await stuck.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("a Redis that was never there: the first call fails within the connect timeout", async () => {
    const nowhere = new RedisConnection({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: CONNECT_TIMEOUT_MS, maxReconnectDelayMs: 200 });
    try {
      await failsFast(() => new RedisSessionRegistry({ redis: nowhere }).claim(cam));
      await failsFast(() => nowhere.ready());
    } finally {
      await nowhere.close();
    }
  });
});
