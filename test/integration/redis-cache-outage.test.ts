import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PgliteDatabase } from "../../src/adapters/db/pglite-database.js";
import { RedisCache } from "../../src/adapters/cache/redis-cache.js";
import { RedisConnection } from "../../src/adapters/state/redis-connection.js";
import { CachePolicy } from "../../src/products/cache-policy.js";
import { CACHE_TTL_MS } from "../../src/products/cache-ttl.js";
import { recordingCounters } from "../contract/cache-policy.contract.js";
import { manualTime } from "../contract/time-control.js";
import { openTestPglite } from "../support/pglite.js";
import { startRedis, type RedisServer } from "../support/redis-server.js";
import { waitFor } from "../support/wait-for.js";

/** Short, so a hung Redis costs this test half a second per call, not the production 2 s. */
const TIMEOUT_MS = 500;
const log = pino({ level: "silent" });

/**
 * A TCP hop between this process and Redis that the test can cut and heal: a network partition,
 * where Redis keeps its data and never sees the commands sent meanwhile (unlike a frozen Redis,
 * which runs them when it thaws).
 */
async function partitionable(redisUrl: string): Promise<{ url: string; cut(): void; heal(): void; close(): Promise<void> }> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => (sockets.delete(s), client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal() {
      open = true;
    },
    close: () => new Promise<void>((r) => (open = false, sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

interface Row {
  id: string;
  rev: number;
}

describe("CachePolicy over a Redis that goes away: the database answers, failures are counted, nothing throws", () => {
  let server: RedisServer;
  let redis: RedisConnection;
  let db: PgliteDatabase;
  let loads = 0;
  const load = async (id: string): Promise<Row | undefined> => {
    loads++;
    const { rows } = await db.query<Row>("SELECT id, rev FROM cache_items WHERE id = $1", [id]);
    return rows[0];
  };
  const setRev = (id: string, rev: number) => db.query("UPDATE cache_items SET rev = $2 WHERE id = $1", [id, rev]);

  beforeAll(async () => {
    server = await startRedis();
    redis = new RedisConnection({ url: server.url, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: TIMEOUT_MS, maxReconnectDelayMs: 100 });
    db = await openTestPglite();
    await db.query("CREATE TABLE cache_items (id TEXT PRIMARY KEY, rev INT NOT NULL)");
    await db.query("INSERT INTO cache_items SELECT 'P' || i, 1 FROM generate_series(1, 5) AS i");
  });
  afterAll(async () => {
    await redis?.close();
    await server?.stop();
    await db?.close();
  });

  it("Redis killed: reads go to the database with the right values, each failure counted by cache and operation; hits resume once it is back", async () => {
    const counters = recordingCounters();
    const policy = new CachePolicy(new RedisCache({ redis, keyPrefix: "killed:" }), counters, log);
    const read = (id: string) => policy.read("product", `product:${id}`, CACHE_TTL_MS.product, () => load(id));
    await policy.write("product", "product:P1", { id: "P1", rev: 1 }, CACHE_TTL_MS.product);
    loads = 0;
    expect(await read("P1")).toEqual({ id: "P1", rev: 1 });
    expect(loads).toBe(0);

    await server.kill();
    expect(await read("P1")).toEqual({ id: "P1", rev: 1 });
    expect(await read("P2")).toEqual({ id: "P2", rev: 1 });
    expect(await policy.readMany("product", ["product:P3", "product:P4"], CACHE_TTL_MS.product, (idx) => Promise.all(idx.map((i) => load(`P${i + 3}`))))).toEqual([
      { id: "P3", rev: 1 },
      { id: "P4", rev: 1 },
    ]);
    expect(await policy.generation("search", "search:gen")).toBeUndefined(); // the caller bypasses the cache
    expect(loads).toBe(4);
    expect(counters.errors).toEqual({ "product/get": 3, "search/get": 1 });
    expect(counters.misses).toEqual({ product: 4 });
    expect(counters.hits).toEqual({ product: 1 });

    // Writes while it is down: refused by the engine, never by the request.
    await setRev("P1", 2);
    await policy.write("product", "product:P1", { id: "P1", rev: 2 }, CACHE_TTL_MS.product);
    await policy.invalidate("product", ["product:P2"]);
    await policy.bump("search", "search:gen");
    expect(counters.errors).toMatchObject({ "product/set": 1, "product/delete": 1, "search/increment": 1 });
    expect(policy.pendingInvalidations).toBe(3);
    // The next read replays them first; that fails too (counted as such) and the database answers.
    expect(await read("P1")).toEqual({ id: "P1", rev: 2 });
    expect(counters.errors["product/delete"]).toBe(2);

    await server.restart(); // back, and empty
    await waitFor(async () => (await read("P1"), policy.pendingInvalidations === 0), { what: "the missed writes replayed" });
    loads = 0;
    const hitsBefore = counters.hits.product ?? 0;
    expect(await read("P1")).toEqual({ id: "P1", rev: 2 });
    expect(await read("P1")).toEqual({ id: "P1", rev: 2 });
    expect(loads).toBe(0);
    expect(counters.hits.product).toBe(hitsBefore + 2);
    expect(await policy.generation("search", "search:gen")).toBe(1); // the missed bump replayed
  });

  it("Redis hung while a product is written: after it answers again the old cached value is never read (the missed write-through is replayed)", async () => {
    const counters = recordingCounters();
    const policy = new CachePolicy(new RedisCache({ redis, keyPrefix: "hung:" }), counters, log);
    const read = (id: string) => policy.read("product", `product:${id}`, CACHE_TTL_MS.product, () => load(id));
    await setRev("P5", 1);
    await policy.write("product", "product:P5", { id: "P5", rev: 1 }, CACHE_TTL_MS.product);
    await policy.write("search", "search:0:all", ["P5@1"], CACHE_TTL_MS.search);
    await redis.ready();

    server.freeze(); // Redis keeps its data: rev 1 stays cached in it
    try {
      await setRev("P5", 2);
      await policy.write("product", "product:P5", { id: "P5", rev: 2 }, CACHE_TTL_MS.product);
      await policy.bump("search", "search:gen");
      expect(counters.errors).toEqual({ "product/set": 1, "search/increment": 1 });
    } finally {
      server.thaw();
    }
    await waitFor(() => redis.connected, { what: "redis answering after thaw" });
    loads = 0;
    expect(await read("P5")).toEqual({ id: "P5", rev: 2 }); // not the rev 1 Redis still held
    expect(loads).toBe(1);
    expect(await read("P5")).toEqual({ id: "P5", rev: 2 });
    expect(loads).toBe(1);
    // The INCR sent into the hung Redis may run once it thaws, and the replay bumps again: past 0 either way.
    expect(await policy.generation("search", "search:gen")).toBeGreaterThanOrEqual(1); // the page of generation 0 is retired
    expect(policy.pendingInvalidations).toBe(0);
  });

  it("this node cut off from Redis while it writes (Redis keeps the old entries): after the link heals the stale entry is never read", async () => {
    const hop = await partitionable(server.url);
    const link = new RedisConnection({ url: hop.url, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: TIMEOUT_MS, maxReconnectDelayMs: 100 });
    try {
      const counters = recordingCounters();
      const policy = new CachePolicy(new RedisCache({ redis: link, keyPrefix: "cut:" }), counters, log);
      const read = (id: string) => policy.read("product", `product:${id}`, CACHE_TTL_MS.product, () => load(id));
      await setRev("P4", 1);
      await policy.write("product", "product:P4", { id: "P4", rev: 1 }, CACHE_TTL_MS.product);
      expect(await policy.generation("search", "search:gen")).toBe(0);

      hop.cut();
      await waitFor(() => !link.connected, { what: "the link noticed the cut" });
      await setRev("P4", 2);
      await policy.write("product", "product:P4", { id: "P4", rev: 2 }, CACHE_TTL_MS.product);
      await policy.bump("search", "search:gen");
      expect(counters.errors).toEqual({ "product/set": 1, "search/increment": 1 });
      expect(await redis.client.get("cut:product:P4")).toMatch(/\|\{"id":"P4","rev":1\}$/); // Redis still holds rev 1

      hop.heal();
      await waitFor(() => link.connected, { what: "the link back" });
      loads = 0;
      expect(await read("P4")).toEqual({ id: "P4", rev: 2 });
      expect(loads).toBe(1);
      expect(await read("P4")).toEqual({ id: "P4", rev: 2 });
      expect(loads).toBe(1);
      expect(await policy.generation("search", "search:gen")).toBe(1);
      expect(policy.pendingInvalidations).toBe(0);
    } finally {
      await link.close();
      await hop.close();
    }
  });

  it("more missed writes than it may remember: the cache is bypassed until the longest of their TTLs has passed", async () => {
    const time = manualTime();
    const counters = recordingCounters();
    const policy = new CachePolicy(new RedisCache({ redis, keyPrefix: "overflow:" }), counters, log, { now: time.now, maxPendingInvalidations: 2 });
    const read = (id: string) => policy.read("qr", `qr:${id}`, CACHE_TTL_MS.qr, () => load(id));
    await redis.ready();
    await server.kill();
    for (const id of ["P1", "P2", "P3"]) await policy.write("qr", `qr:${id}`, { id, rev: 0 }, CACHE_TTL_MS.qr);
    expect(policy.pendingInvalidations).toBe(2); // the third was not remembered
    await server.restart();
    await redis.ready().catch(() => undefined);
    await waitFor(() => redis.connected, { what: "redis back" });

    time.advance(CACHE_TTL_MS.qr - 1);
    const before = { ...counters.errors };
    loads = 0;
    expect(await read("P3")).toMatchObject({ id: "P3" });
    expect(await read("P3")).toMatchObject({ id: "P3" });
    expect(loads).toBe(2); // bypassed: not even filled
    expect(counters.errors).toEqual(before); // a bypass is not an engine failure
    expect(await redis.client.exists("overflow:qr:P3")).toBe(0);

    time.advance(1);
    expect(await read("P3")).toMatchObject({ id: "P3" });
    expect(await read("P3")).toMatchObject({ id: "P3" });
    expect(loads).toBe(3); // read, filled, then a hit
    expect(policy.pendingInvalidations).toBe(0);
  });
});
