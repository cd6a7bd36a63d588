import { MemoryRateLimitStore } from "../../../src/adapters/state/memory-rate-limit-store.js";
import { rateLimitStoreContract } from "../../contract/rate-limit-store.contract.js";
import { manualTime } from "../../contract/time-control.js";

rateLimitStoreContract(
  "memory",
  async () => {
    const time = manualTime();
    const store = new MemoryRateLimitStore(time.now);
    return { store, peer: store, time, cleanup: async () => undefined };
  },
  60_000,
);
