import { randomUUID } from "node:crypto";
import { RedisConnection } from "../../src/adapters/state/redis-connection.js";
import { sharedRedis } from "./redis-server.js";

/** Connections to the run's shared Redis under a key prefix of their own (tests never collide). */
export interface RedisTestSpace {
  url: string;
  prefix: string;
  connect(): RedisConnection;
  /** Deletes every key under the prefix (SCAN, not KEYS): an "empty restart" of this space. */
  wipe(): Promise<void>;
  /** Wipes and closes every connection made here. */
  cleanup(): Promise<void>;
}

export async function redisTestSpace(name: string): Promise<RedisTestSpace> {
  const { url } = await sharedRedis();
  const prefix = `test:${name}:${randomUUID()}:`;
  const conns: RedisConnection[] = [];
  const connect = (): RedisConnection => {
    const c = new RedisConnection({ url });
    conns.push(c);
    return c;
  };
  const admin = connect();
  const wipe = async (): Promise<void> => {
    await admin.ready();
    let cursor = "0";
    do {
      const [next, keys] = await admin.client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      if (keys.length) await admin.client.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  };
  return {
    url,
    prefix,
    connect,
    wipe,
    async cleanup() {
      await wipe();
      for (const c of conns.splice(0)) await c.close();
    },
  };
}
