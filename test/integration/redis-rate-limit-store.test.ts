import { RedisRateLimitStore } from "../../src/adapters/state/redis-rate-limit-store.js";
import { rateLimitStoreContract } from "../contract/rate-limit-store.contract.js";
import { realTime } from "../contract/time-control.js";
import { redisTestSpace } from "../support/redis-state.js";

rateLimitStoreContract(
  "Redis",
  async () => {
    const space = await redisTestSpace("ratelimit");
    return {
      store: new RedisRateLimitStore({ redis: space.connect(), keyPrefix: space.prefix }),
      peer: new RedisRateLimitStore({ redis: space.connect(), keyPrefix: space.prefix }),
      time: realTime(),
      cleanup: () => space.cleanup(),
    };
  },
  1500,
);
