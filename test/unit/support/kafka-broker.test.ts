import { describe, expect, it } from "vitest";
import { freePort } from "../../support/free-port.js";
import { kafkaFromEnv } from "../../support/kafka-broker.js";

// Tests that need Kafka fail loudly, with what to do, when it is not there (never skip).
describe("Kafka test engine lookup", () => {
  it("names the setup command when no broker is configured", async () => {
    await expect(kafkaFromEnv({})).rejects.toThrow(/IFC_TEST_KAFKA_BROKERS is not set.*bash scripts\/setup\.sh test/);
  });

  it("passes on why global setup could not start one (no jars)", async () => {
    await expect(kafkaFromEnv({ IFC_TEST_KAFKA_MISSING: "Kafka broker jars not found in /x: run setup" })).rejects.toThrow(/jars not found/);
  });

  it("names the address when the configured broker does not answer in time", async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    await expect(kafkaFromEnv({ IFC_TEST_KAFKA_BROKERS: addr }, 600)).rejects.toThrow(new RegExp(`Kafka at IFC_TEST_KAFKA_BROKERS=${addr} answering not met within 600 ms`));
  });
});
