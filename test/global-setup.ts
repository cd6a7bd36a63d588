import { assertKafkaJars, launchKafka } from "./support/kafka-broker.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { writePgliteTemplate } from "./support/pglite.js";
import { startRunPostgres } from "./support/postgres-server.js";
import { startRunRedis } from "./support/redis-server.js";

/**
 * Engines shared by the whole test run, started once here (one function per engine) and handed
 * to the test workers through the environment. Nothing waits for them here: a run of one unit
 * file must not pay a JVM start; the tests that need an engine wait for it (sharedKafka()).
 */
type Teardown = () => Promise<void>;

/** The run-wide Kafka broker: IFC_TEST_KAFKA_BROKERS, IFC_TEST_KAFKA_LOG (or IFC_TEST_KAFKA_MISSING). */
async function kafka(): Promise<Teardown | undefined> {
  // An external broker given by the caller: used as is (sharedKafka() checks that it answers).
  if (process.env.IFC_TEST_KAFKA_BROKERS) return undefined;
  try {
    assertKafkaJars();
  } catch (err) {
    // Not fatal for the run: the tests that need Kafka fail with this message, the others run.
    process.env.IFC_TEST_KAFKA_MISSING = (err as Error).message;
    return undefined;
  }
  const broker = await launchKafka();
  process.env.IFC_TEST_KAFKA_BROKERS = broker.brokers.join(",");
  process.env.IFC_TEST_KAFKA_LOG = broker.logFile;
  return () => broker.stop();
}

/** The run-wide Redis (a fraction of a second to start): IFC_TEST_REDIS_URL. */
async function redis(): Promise<Teardown | undefined> {
  try {
    const server = await startRunRedis();
    return () => server.stop();
  } catch (err) {
    // Not fatal for the run: sharedRedis() fails the tests that need Redis, naming the setup command.
    console.error(`global setup: no Redis for this run: ${(err as Error).message}`);
    return undefined;
  }
}

/** The run-wide PostgreSQL (a second or two: initdb + start): IFC_TEST_DATABASE_URL. */
async function postgres(): Promise<Teardown | undefined> {
  try {
    const server = await startRunPostgres();
    return () => server.stop();
  } catch (err) {
    // Not fatal for the run: sharedPostgresDatabase() fails the tests that need it, naming the setup command.
    console.error(`global setup: no PostgreSQL for this run: ${(err as Error).message}`);
    return undefined;
  }
}

/** A pristine PGlite data directory for every worker to start from (IFC_TEST_PGLITE_TEMPLATE). */
async function pgliteTemplate(): Promise<Teardown | undefined> {
  if (process.env.IFC_TEST_PGLITE_TEMPLATE) return undefined;
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-pglite-template-"));
  await writePgliteTemplate(path.join(dir, "template.tar"));
  return () => rm(dir, { recursive: true, force: true });
}

export default async function setup(): Promise<Teardown> {
  const teardowns = (await Promise.all([kafka(), redis(), postgres(), pgliteTemplate()])).filter((t): t is Teardown => t !== undefined);
  return async () => {
    await Promise.all(teardowns.map((t) => t()));
  };
}
