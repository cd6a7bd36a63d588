import pino from "pino";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import { eventBusContract } from "../../contract/event-bus.contract.js";
import type { BusEvent } from "../../../src/ports/event-bus.js";

const log = pino({ level: "silent" });

eventBusContract("in-process", {
  async make() {
    const bus = new InProcessEventBus(log);
    return { bus, ready: async () => undefined, close: () => bus.close() };
  },
  async makeStalled(_topics, bound) {
    // The in-process bus's bounded queue is a subscriber's unfinished async deliveries.
    const bus = new InProcessEventBus(log, bound);
    return {
      bus,
      bound,
      ready: async () => undefined,
      close: () => bus.close(),
      stall(topic) {
        const received: BusEvent[] = [];
        const finish: (() => void)[] = [];
        bus.subscribe(topic, (e) => {
          received.push(e);
          return new Promise<void>((r) => finish.push(r));
        });
        return { received: () => received, resume: () => finish.splice(0).forEach((r) => r()) };
      },
    };
  },
});
