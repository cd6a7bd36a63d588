import type { RefreshRecord, SessionStore } from "../../ports/session-store.js";
import { LuaScript, type RedisConnection } from "./redis-connection.js";

export interface RedisSessionStoreOptions {
  redis: RedisConnection;
  /** Prefix of every key (default "ifc:auth:"). */
  keyPrefix?: string;
}

// KEYS: record, family index, user index. ARGV: hash, family, username, expiresAtMs, spent, revoked.
// The record expires at its own expiresAtMs; an index lives as long as its longest-lived record.
const PUT = new LuaScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'family', ARGV[2], 'username', ARGV[3], 'expiresAtMs', ARGV[4], 'spent', ARGV[5], 'revoked', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
for i = 2, 3 do
  redis.call('SADD', KEYS[i], ARGV[1])
  if redis.call('PTTL', KEYS[i]) == -1 then
    redis.call('PEXPIREAT', KEYS[i], ARGV[4])
  else
    redis.call('PEXPIREAT', KEYS[i], ARGV[4], 'GT')
  end
end
return 0
`);

// KEYS: record. 1 when this call spent it; 0 when it was spent already or is gone.
const SPEND = new LuaScript(`
if redis.call('HGET', KEYS[1], 'spent') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'spent', '1')
return 1
`);

// KEYS: an index. ARGV: record key prefix. Revokes the live records, forgets the expired ones.
const REVOKE = new LuaScript(`
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. h
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'revoked', '1') else redis.call('SREM', KEYS[1], h) end
end
return 0
`);

/**
 * Refresh-token records (one hash each, expiring at the token's expiry) with per-family and
 * per-user indexes for revocation, and the access-token denylist (one key per jti expiring with
 * the token). spend() is one script, so of two nodes refreshing one token at once exactly one wins.
 */
export class RedisSessionStore implements SessionStore {
  private readonly redis: RedisConnection;
  private readonly prefix: string;

  constructor(opts: RedisSessionStoreOptions) {
    this.redis = opts.redis;
    this.prefix = opts.keyPrefix ?? "ifc:auth:";
  }

  async put(rec: RefreshRecord): Promise<void> {
    const keys = [this.recordKey(rec.hash), this.familyKey(rec.family), this.userKey(rec.username)];
    const args = [rec.hash, rec.family, rec.username, Math.floor(rec.expiresAtMs), rec.spent ? "1" : "0", rec.revoked ? "1" : "0"];
    await this.redis.run("session-store put", (c) => PUT.run(c, keys, args));
  }

  async get(hash: string): Promise<RefreshRecord | undefined> {
    const h = await this.redis.run("session-store get", (c) => c.hgetall(this.recordKey(hash)));
    if (h.hash === undefined || h.family === undefined || h.username === undefined || h.expiresAtMs === undefined) return undefined;
    return { hash: h.hash, family: h.family, username: h.username, expiresAtMs: Number(h.expiresAtMs), spent: h.spent === "1", revoked: h.revoked === "1" };
  }

  async spend(hash: string): Promise<boolean> {
    return (await this.redis.run("session-store spend", (c) => SPEND.run(c, [this.recordKey(hash)], []))) === 1;
  }

  async revokeFamily(family: string): Promise<void> {
    await this.redis.run("session-store revokeFamily", (c) => REVOKE.run(c, [this.familyKey(family)], [this.recordKey("")]));
  }

  async revokeUser(username: string): Promise<void> {
    await this.redis.run("session-store revokeUser", (c) => REVOKE.run(c, [this.userKey(username)], [this.recordKey("")]));
  }

  async deny(jti: string, expiresAtMs: number): Promise<void> {
    // PXAT in the past stores nothing (the token is dead anyway); Redis refuses 0 and below.
    if (Math.floor(expiresAtMs) < 1) return;
    await this.redis.run("session-store deny", (c) => c.set(this.denyKey(jti), "1", "PXAT", Math.floor(expiresAtMs)));
  }

  async isDenied(jti: string): Promise<boolean> {
    return (await this.redis.run("session-store isDenied", (c) => c.exists(this.denyKey(jti)))) === 1;
  }

  private recordKey(hash: string): string {
    return `${this.prefix}refresh:${hash}`;
  }
  private familyKey(family: string): string {
    return `${this.prefix}family:${family}`;
  }
  private userKey(username: string): string {
    return `${this.prefix}user:${username}`;
  }
  private denyKey(jti: string): string {
    return `${this.prefix}deny:${jti}`;
  }
}
