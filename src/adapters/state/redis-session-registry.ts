import type { ClaimResult, SessionRegistry, StreamOwner } from "../../ports/session-registry.js";
import { LuaScript, type RedisConnection } from "./redis-connection.js";
import { encodeStreamOwner, parseStreamOwner } from "./stream-owner-codec.js";

export interface RedisSessionRegistryOptions {
  redis: RedisConnection;
  /** An entry not renewed (claim, update, heartbeat) for this long expires (default 15 000 ms). */
  ttlMs?: number;
  /** Prefix of every key (default "ifc:registry:"): several clusters may share one Redis. */
  keyPrefix?: string;
  /** Streams renewed per script call in a heartbeat (default 256): bounds how long one call blocks Redis. */
  heartbeatBatch?: number;
}

// Redis server time in epoch ms, so that every node's entries expire on one clock.
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

// KEYS: entry, index. ARGV: owner JSON, ttl, stream. Keeps `since` across takeovers.
const CLAIM = new LuaScript(`${NOW}
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
local value = ARGV[1]
local outcome = 'claimed'
if cur then
  local c = cjson.decode(cur)
  local n = cjson.decode(ARGV[1])
  if c.identity ~= n.identity then return {'refused', cur} end
  if c.nodeId == n.nodeId and c.sessionId == n.sessionId then outcome = 'renewed' else outcome = 'taken-over' end
  if c.since ~= n.since then
    n.since = c.since
    value = cjson.encode(n)
  end
end
redis.call('SET', KEYS[1], value, 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
if outcome == 'taken-over' then return {outcome, cur} end
return {outcome}
`);

// KEYS: entry, index. ARGV: nodeId, ttl, stream, state or "", sessionId or "".
const UPDATE = new LuaScript(`${NOW}
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local c = cjson.decode(cur)
if c.nodeId ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then c.state = ARGV[4] end
if ARGV[5] ~= '' then c.sessionId = ARGV[5] end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(c), 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
return 1
`);

// KEYS: index, entry 1..n. ARGV: nodeId, ttl, then stream and owner JSON per entry. Returns the streams lost.
const HEARTBEAT = new LuaScript(`${NOW}
local ttl = tonumber(ARGV[2])
local lost = {}
for i = 2, #KEYS do
  local stream = ARGV[1 + (i - 1) * 2]
  local cur = redis.call('GET', KEYS[i])
  if not cur then
    redis.call('SET', KEYS[i], ARGV[2 + (i - 1) * 2], 'PX', ttl)
    redis.call('ZADD', KEYS[1], now + ttl, stream)
  elseif cjson.decode(cur).nodeId == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ttl)
    redis.call('ZADD', KEYS[1], now + ttl, stream)
  else
    lost[#lost + 1] = stream
  end
end
return lost
`);

// KEYS: entry, index. ARGV: nodeId, stream.
const RELEASE = new LuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cjson.decode(cur).nodeId == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0
`);

// KEYS: index. ARGV: entry key prefix. Drops expired names from the index as it reads it (no KEYS/SCAN).
const LIST = new LuaScript(`${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. name)
  if v then out[#out + 1] = v else redis.call('ZREM', KEYS[1], name) end
end
return out
`);

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/**
 * The cluster-wide registry: one key per stream holding its StreamOwner as JSON with a PX TTL,
 * and a sorted set of stream names scored by expiry (Redis time) so list() needs neither KEYS nor
 * SCAN. Every read-modify-write is one Lua script, so two nodes claiming one stream at once
 * cannot both win. The entry keys are built inside the list script, so it is for a single Redis
 * (or a primary with replicas), not Redis Cluster.
 */
export class RedisSessionRegistry implements SessionRegistry {
  private readonly redis: RedisConnection;
  private readonly ttlMs: number;
  private readonly prefix: string;
  private readonly batch: number;

  constructor(opts: RedisSessionRegistryOptions) {
    this.redis = opts.redis;
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.prefix = opts.keyPrefix ?? "ifc:registry:";
    this.batch = opts.heartbeatBatch ?? 256;
    if (!(this.ttlMs > 0) || !Number.isInteger(this.ttlMs)) throw new RangeError(`ttlMs must be a positive integer, got ${this.ttlMs}`);
    if (!(this.batch >= 1) || !Number.isInteger(this.batch)) throw new RangeError(`heartbeatBatch must be a positive integer, got ${this.batch}`);
  }

  async claim(owner: StreamOwner): Promise<ClaimResult> {
    const r = asStrings(
      await this.redis.run("session-registry claim", (c) => CLAIM.run(c, [this.entryKey(owner.stream), this.indexKey()], [encodeStreamOwner(owner), this.ttlMs, owner.stream])),
    );
    const other = r[1] !== undefined ? parseStreamOwner(r[1]) : undefined;
    if (r[0] === "claimed") return { outcome: "claimed" };
    if (r[0] === "renewed") return { outcome: "renewed" };
    if (r[0] === "taken-over" && other) return { outcome: "taken-over", previous: other };
    if (r[0] === "refused" && other) return { outcome: "refused", holder: other };
    throw new Error(`session-registry claim: unexpected reply ${JSON.stringify(r)}`);
  }

  async update(stream: string, nodeId: string, patch: Partial<Pick<StreamOwner, "state" | "sessionId">>): Promise<boolean> {
    const r = await this.redis.run("session-registry update", (c) =>
      UPDATE.run(c, [this.entryKey(stream), this.indexKey()], [nodeId, this.ttlMs, stream, patch.state ?? "", patch.sessionId ?? ""]),
    );
    return r === 1;
  }

  async heartbeat(nodeId: string, owners: readonly StreamOwner[]): Promise<string[]> {
    const lost: string[] = [];
    for (let i = 0; i < owners.length; i += this.batch) {
      const chunk = owners.slice(i, i + this.batch);
      const keys = [this.indexKey(), ...chunk.map((o) => this.entryKey(o.stream))];
      const args: (string | number)[] = [nodeId, this.ttlMs];
      for (const o of chunk) args.push(o.stream, encodeStreamOwner({ ...o, nodeId }));
      lost.push(...asStrings(await this.redis.run("session-registry heartbeat", (c) => HEARTBEAT.run(c, keys, args))));
    }
    return lost;
  }

  async release(stream: string, nodeId: string): Promise<void> {
    await this.redis.run("session-registry release", (c) => RELEASE.run(c, [this.entryKey(stream), this.indexKey()], [nodeId, stream]));
  }

  async get(stream: string): Promise<StreamOwner | undefined> {
    const v = await this.redis.run("session-registry get", (c) => c.get(this.entryKey(stream)));
    return v === null ? undefined : parseStreamOwner(v);
  }

  async list(): Promise<StreamOwner[]> {
    const values = asStrings(await this.redis.run("session-registry list", (c) => LIST.run(c, [this.indexKey()], [this.entryKey("")])));
    const owners = values.map(parseStreamOwner).filter((o): o is StreamOwner => o !== undefined);
    return owners.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  /** The connection is the caller's (it is shared with the other state adapters): close it there. */
  async close(): Promise<void> {}

  private entryKey(stream: string): string {
    return `${this.prefix}stream:${stream}`;
  }

  private indexKey(): string {
    return `${this.prefix}streams`;
  }
}
