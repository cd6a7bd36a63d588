import { MemorySessionRegistry } from "../../../src/adapters/state/memory-session-registry.js";
import { sessionRegistryContract } from "../../contract/session-registry.contract.js";
import { manualTime } from "../../contract/time-control.js";

sessionRegistryContract(
  "memory",
  async (ttlMs) => {
    const time = manualTime();
    const registry = new MemorySessionRegistry({ ttlMs, now: time.now });
    return {
      registry,
      peer: registry,
      time,
      // Forgetting everything is what a TTL with no heartbeat does.
      wipe: async () => time.advance(ttlMs),
      cleanup: () => registry.close(),
    };
  },
  { long: 15_000, short: 15_000 },
);
