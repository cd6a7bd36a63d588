import { expect, test } from "vitest";
import { sharedKafka } from "../support/kafka-broker.js";
test("probe", async () => { const t = Date.now(); const b = await sharedKafka(); console.log("brokers", b, Date.now() - t); expect(b.length).toBe(1); });
