import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import kafkajs from "kafkajs";
import { freePort } from "./free-port.js";
import { waitFor } from "./wait-for.js";

/**
 * A real Apache Kafka broker for tests: one JVM in KRaft mode (broker and controller combined),
 * from the jars scripts/setup-kafka.sh resolves from Maven Central into the cache. Nothing
 * stands in for it: when the jars are missing the Kafka tests fail and say how to get them.
 */

/** Where scripts/setup-kafka.sh puts the broker's jars. */
export const KAFKA_LIBS = process.env.IFC_KAFKA_LIBS ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "imageflowcanvas", "kafka", "libs");

const SETUP_HINT = `run "bash scripts/setup.sh test" (it resolves the Kafka broker jars with mvn), or set IFC_TEST_KAFKA_BROKERS=host:port to a running broker`;

export interface StartKafkaOptions {
  /** Partitions of an auto-created topic and default for admin-created ones (default 1: fast group joins). */
  numPartitions?: number;
  /** JVM heap ceiling in MB (default 384). */
  heapMb?: number;
  /** How long start/restart wait for the broker to answer (default 90 s: a loaded 2-core machine). */
  readyTimeoutMs?: number;
}

export interface KafkaBroker {
  brokers: string[];
  /** The broker's stdout/stderr, appended across restarts. */
  logFile: string;
  /** Resolves when the broker answers a metadata request. */
  ready(): Promise<void>;
  /** SIGTERM (controlled shutdown), SIGKILL if it lingers; removes the data directory. */
  stop(): Promise<void>;
  /**
   * Stops it and starts it again on the same ports and data (outage tests). `whileDown` runs
   * between the two, so a test can wait for what it needs to see while the broker is away.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** SIGKILL, no shutdown; data kept, so restart() can still follow. */
  kill(): Promise<void>;
}

/** Throws the setup hint when the cached jars are not there. */
export function assertKafkaJars(): void {
  const found = existsSync(KAFKA_LIBS) && readdirSync(KAFKA_LIBS).some((f) => /^kafka_2\.13-.*\.jar$/.test(f));
  if (!found) throw new Error(`Kafka broker jars not found in ${KAFKA_LIBS}: ${SETUP_HINT}`);
}

/** True when a broker at `brokers` answers a metadata request within about a second. */
export async function kafkaAnswers(brokers: string[]): Promise<boolean> {
  const kafka = new kafkajs.Kafka({
    clientId: "ifc-test-probe",
    brokers,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(dir: string, port: number, controllerPort: number, numPartitions: number): string {
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${path.join(dir, "data")}`,
    // The adapter creates its topics; a topic that appears by itself would hide a missing create.
    "auto.create.topics.enable=false",
    `num.partitions=${numPartitions}`,
    // One node: internal topics with one replica and one partition, so groups form in milliseconds.
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    // Tests join consumer groups often: no 3 s wait for more members.
    "group.initial.rebalance.delay.ms=0",
    "num.network.threads=2",
    "num.io.threads=2",
    "",
  ].join("\n");
}

const LOG4J2 = [
  "status = error",
  "appender.console.type = Console",
  "appender.console.name = STDOUT",
  "appender.console.layout.type = PatternLayout",
  "appender.console.layout.pattern = [%d] %p %m (%c)%n",
  "rootLogger.level = warn",
  "rootLogger.appenderRef.stdout.ref = STDOUT",
  // The one INFO line worth keeping: when the server is up.
  "logger.started.name = kafka.server.KafkaRaftServer",
  "logger.started.level = info",
  "",
].join("\n");

/** A KRaft cluster id: 16 random bytes, base64url without padding (Kafka's Uuid text form). */
function clusterId(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * Chooses the ports, writes the config and spawns the broker (storage format first) without
 * waiting for it: the caller awaits ready() when it needs the broker (global setup does not).
 */
export async function launchKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  assertKafkaJars();
  const heapMb = opts.heapMb ?? 384;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-kafka-"));
  const port = await freePort();
  const controllerPort = await freePort();
  const brokers = [`127.0.0.1:${port}`];
  const config = path.join(dir, "server.properties");
  const log4j = path.join(dir, "log4j2.properties");
  const logFile = path.join(dir, "broker.log");
  await writeFile(config, serverProperties(dir, port, controllerPort, opts.numPartitions ?? 1));
  await writeFile(log4j, LOG4J2);
  await writeFile(logFile, "");

  const javaArgs = (main: string, ...args: string[]): string[] => [
    "-Xms128m",
    `-Xmx${heapMb}m`,
    // Start-up time matters more than peak throughput here.
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${log4j}`,
    "-cp",
    path.join(KAFKA_LIBS, "*"),
    main,
    ...args,
  ];

  let child: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let failure: string | undefined;
  let stopping = false;

  const run = (main: string, args: string[]): ChildProcess => {
    appendFileSync(logFile, `--- ${main} ${args.join(" ")}\n`);
    const c = spawn("java", javaArgs(main, ...args), { stdio: ["ignore", "pipe", "pipe"] });
    const append = (d: Buffer): void => appendFileSync(logFile, d);
    c.stdout?.on("data", append);
    c.stderr?.on("data", append);
    c.on("error", (err) => (failure = `java could not start: ${err.message}`));
    // If this test process dies without its teardown (SIGKILL), the JVM must not outlive it.
    watchdog = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${c.pid ?? 0} 2>/dev/null; do sleep 2; done; kill -9 ${c.pid ?? 0} 2>/dev/null`], { stdio: "ignore" });
    watchdog.unref();
    const w = watchdog;
    c.on("exit", () => w.kill("SIGKILL"));
    return c;
  };

  const startBroker = (): void => {
    const c = run("kafka.Kafka", [config]);
    child = c;
    exited = new Promise<void>((resolve) =>
      c.on("exit", (code, signal) => {
        if (!stopping) failure = `Kafka broker exited (${signal ?? code}) on its own`;
        resolve();
      }),
    );
  };

  // Format first (KRaft needs a formatted log directory), then the broker: chained, not awaited.
  const format = run("kafka.tools.StorageTool", ["format", "-t", clusterId(), "-c", config]);
  child = format;
  exited = new Promise<void>((resolve) =>
    format.on("exit", (code) => {
      if (code === 0 && !stopping) startBroker();
      else if (!stopping) failure = `Kafka storage format exited with ${code}`;
      resolve();
    }),
  );

  const ready = async (): Promise<void> => {
    try {
      await waitFor(
        async () => {
          if (failure) throw new Error(failure);
          return kafkaAnswers(brokers);
        },
        { timeoutMs: readyTimeoutMs, intervalMs: 200, what: `Kafka broker at ${brokers[0]} answering` },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${tail(logFile)}`);
    }
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    stopping = true;
    // Wait for the format step to hand over, so the broker it would spawn is the one we stop.
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = exited;
      c.kill(signal);
      const timer = setTimeout(() => c.kill("SIGKILL"), 20_000);
      await gone;
      clearTimeout(timer);
    }
    watchdog?.kill("SIGKILL");
  };

  return {
    brokers,
    logFile,
    ready,
    stop: async () => {
      await halt("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
    kill: () => halt("SIGKILL"),
    restart: async (whileDown) => {
      await halt("SIGTERM");
      if (whileDown) await whileDown();
      stopping = false;
      failure = undefined;
      startBroker();
      await ready();
    },
  };
}

/** A dedicated broker, started and answering (for tests that stop or restart it). */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const broker = await launchKafka(opts);
  try {
    await broker.ready();
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}

function tail(file: string | undefined, lines = 30): string {
  if (!file || !existsSync(file)) return "";
  return `broker log (${file}):\n${readFileSync(file, "utf8").split("\n").slice(-lines).join("\n")}`;
}

/**
 * The brokers the environment names (IFC_TEST_KAFKA_BROKERS, set by test/global-setup.ts or by
 * the caller), once they answer; a clear error when they are missing or do not answer in time.
 */
export async function kafkaFromEnv(env: NodeJS.ProcessEnv = process.env, timeoutMs = 90_000): Promise<string[]> {
  const missing = env.IFC_TEST_KAFKA_MISSING;
  if (missing) throw new Error(missing);
  const list = env.IFC_TEST_KAFKA_BROKERS;
  if (!list) throw new Error(`IFC_TEST_KAFKA_BROKERS is not set (test/global-setup.ts sets it when it starts the run-wide broker): ${SETUP_HINT}`);
  const brokers = list.split(",").map((b) => b.trim()).filter(Boolean);
  try {
    await waitFor(() => kafkaAnswers(brokers), { timeoutMs, intervalMs: 200, what: `Kafka at IFC_TEST_KAFKA_BROKERS=${list} answering` });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(env.IFC_TEST_KAFKA_LOG)}`);
  }
  return brokers;
}

let shared: Promise<string[]> | undefined;

/**
 * The run-wide broker test/global-setup.ts started (or the external one at
 * IFC_TEST_KAFKA_BROKERS), once it answers. Shared: tests use their own topics and groups and
 * never stop it.
 */
export function sharedKafka(): Promise<string[]> {
  shared ??= kafkaFromEnv();
  return shared;
}
