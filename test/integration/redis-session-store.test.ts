import { RedisSessionStore } from "../../src/adapters/state/redis-session-store.js";
import { sessionStoreContract } from "../contract/session-store.contract.js";
import { realTime } from "../contract/time-control.js";
import { redisTestSpace } from "../support/redis-state.js";

sessionStoreContract(
  "Redis",
  async () => {
    const space = await redisTestSpace("sessions");
    return {
      store: new RedisSessionStore({ redis: space.connect(), keyPrefix: space.prefix }),
      peer: new RedisSessionStore({ redis: space.connect(), keyPrefix: space.prefix }),
      time: realTime(),
      cleanup: () => space.cleanup(),
    };
  },
  1500,
);
