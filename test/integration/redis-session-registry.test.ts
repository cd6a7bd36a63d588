import { describe, expect, it } from "vitest";
import { RedisSessionRegistry } from "../../src/adapters/state/redis-session-registry.js";
import type { StreamOwner } from "../../src/ports/session-registry.js";
import { sessionRegistryContract } from "../contract/session-registry.contract.js";
import { realTime } from "../contract/time-control.js";
import { redisTestSpace } from "../support/redis-state.js";

sessionRegistryContract(
  "Redis",
  async (ttlMs) => {
    const space = await redisTestSpace("registry");
    const keyPrefix = space.prefix;
    return {
      registry: new RedisSessionRegistry({ redis: space.connect(), ttlMs, keyPrefix }),
      peer: new RedisSessionRegistry({ redis: space.connect(), ttlMs, keyPrefix }),
      time: realTime(),
      wipe: () => space.wipe(),
      cleanup: () => space.cleanup(),
    };
  },
  // A short TTL a loaded machine still keeps within (a heartbeat tick every ~1/8 of it).
  { long: 30_000, short: 1500 },
);

describe("RedisSessionRegistry", () => {
  it("renews a heartbeat in batches of heartbeatBatch streams and reports losses from every batch", async () => {
    const space = await redisTestSpace("registry-batch");
    try {
      const a = new RedisSessionRegistry({ redis: space.connect(), keyPrefix: space.prefix, heartbeatBatch: 2 });
      const b = new RedisSessionRegistry({ redis: space.connect(), keyPrefix: space.prefix, heartbeatBatch: 2 });
      const owners: StreamOwner[] = Array.from({ length: 5 }, (_, i) => ({
        stream: `s${i}`, nodeId: "node-a", url: "http://a", identity: `dev${i}`, sessionId: `x${i}`, state: "live", since: 1_764_400_000_000 + i,
      }));
      for (const o of owners) await a.claim(o);
      await space.wipe();
      // s1 (first batch) and s4 (last, a batch of one) now belong to node B.
      for (const i of [1, 4]) await b.claim({ ...owners[i]!, nodeId: "node-b" });
      expect((await a.heartbeat("node-a", owners)).sort()).toEqual(["s1", "s4"]);
      expect((await b.list()).map((o) => `${o.stream}@${o.nodeId}`)).toEqual(["s0@node-a", "s1@node-b", "s2@node-a", "s3@node-a", "s4@node-b"]);
      expect(() => new RedisSessionRegistry({ redis: space.connect(), heartbeatBatch: 0 })).toThrow(RangeError);
    } finally {
      await space.cleanup();
    }
  });
});
