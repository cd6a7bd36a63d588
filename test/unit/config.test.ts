import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QosController } from "../../src/extractor/qos-controller.js";
import { CONFIG_SPEC, ConfigError, loadConfig, unknownEnvVariables, type ConfigKey } from "../../src/config.js";

/**
 * A valid value other than the default for every key, as its environment variable would carry
 * it. Typed as a Record over every key, so a new key does not compile until it has one here.
 */
const NON_DEFAULT: Record<ConfigKey, string> = {
  httpHost: "127.0.0.1", httpPort: "9090", publicUrl: "https://ingest.example.com/", corsOrigins: "https://app.example.com",
  logLevel: "debug", store: "s3", dataDir: "/var/lib/ifc", s3Url: "https://s3.example.com", s3AccessKey: "ak", s3SecretKey: "sk",
  s3Bucket: "bucket", s3Region: "eu-west-1", s3PathStyle: "false", spoolDir: "/var/spool/ifc", uploadQueueBytes: "1048576",
  uploadConcurrency: "8", uploadMinBackoffMs: "500", uploadMaxBackoffMs: "120000", ffmpegPath: "/usr/local/bin/ffmpeg",
  heapGrowthPercent: "0", maxPublishers: "8", maxCpuPercent: "80", whipMaxOfferBytes: "65536", whipConnectTimeoutMs: "5000", rtpSilenceTimeoutMs: "3000",
  rtcpSilenceTimeoutMs: "5000", iceDisconnectedTimeoutMs: "1000", reconnectGraceMs: "0", iceRestartTimeoutMs: "5000", dtlsStartDelayMs: "100", rtcRecvBufferBytes: "0",
  rtpMaxJumpMs: "5000", clockDriftToleranceMs: "40", whepJoin: "next-keyframe", whepStrictProfile: "true", streamBufferMs: "4000",
  streamBufferBytes: "1048576", recordOnDetection: "qr_code,motion", recordOnDetectionPreRollMs: "2000", recordOnDetectionPostRollMs: "3000",
  retentionMinFreeBytes: "0",
  iceServers: "stun:stun.example.com:3478", iceUsername: "user", iceCredential: "secret", rtcPortMin: "50000", rtcPortMax: "50100",
  rtcPublicIps: "203.0.113.7", rtcInterfaceAddress: "192.0.2.1", rtcIpv6: "true", pliMinIntervalMs: "1000", rembBitrateBps: "0",
  reorderWindowPackets: "128", whepMaxViewersPerStream: "10", whepMaxViewers: "20", whepPacketCachePackets: "1024",
  whepIdleTimeoutMs: "5000", readerQueueFrames: "256", readerWarnIntervalMs: "5000", readerMaxConsecutiveErrors: "10", recordByDefault: "false", segmentDurationMs: "6000", partDurationMs: "500",
  segmentAlignWallClock: "true", keyframeRequestLeadMs: "100", maxSegmentDurationMs: "30000", retentionMinutes: "60",
  retentionMinutesByStream: "cam1=5", retentionStreamBytes: "1000000", retentionTotalBytes: "5000000", retentionIntervalMs: "1000",
  clipRetentionDays: "7", maxTags: "8", clipMaxDurationMs: "60000", clipMaxCount: "5", clipTotalBytes: "1000000", playMaxDurationMs: "60000", hlsWindowSegments: "3", hlsPartSegments: "1",
  hlsBlockingTimeoutMs: "3000", hlsMaxBlockedRequests: "10", decoderReaderQueue: "32", decoderMaxStdinBytes: "2048",
  decoderRestartBackoffMinMs: "100", decoderRestartBackoffMaxMs: "5000", decoderJpegQuality: "3", decoderDesyncUnits: "30",
  decoderDesyncMs: "1000", aiEnabled: "false", aiWorkers: "10.0.0.5:50051", aiEmbeddedWorker: "false", aiEmbeddedWorkerCapacityFps: "10",
  aiMaxSessions: "4", aiMaxFps: "60", aiMaxPreset: "low", aiPriorities: "line1=10", aiResultTimeoutMs: "1000", aiHealthIntervalMs: "1000",
  aiHealthTimeoutMs: "500", aiBreakerFailures: "3", aiBreakerOpenMs: "1000", aiBreakerSuccesses: "1", aiReconnectMinMs: "500",
  aiReconnectMaxMs: "5000", aiMaxFrameBytes: "1048576", qosStepDownAfterMs: "1000", qosStepUpAfterMs: "5000", qosNoCreditPercent: "25",
  qosDropPercent: "25", qosLatencyMs: "500", wsMaxBufferedBytes: "2048", wsMaxMessagesPerMinute: "10", wsMaxMessageBytes: "1024",
  wsMaxClients: "10", wsStatsIntervalMs: "500", shutdownTimeoutMs: "5000",
  usersFile: "/etc/ifc/users.json", authKeysDir: "/etc/ifc/keys", authIssuer: "https://ingest.example.com", authAccessTtlMs: "3600000",
  authRefreshTtlMs: "86400000", authViewTokenTtlMs: "600000", authJwksUrl: "https://idp.example.com/.well-known/jwks.json",
  authJwksIssuer: "https://idp.example.com", authJwksAudience: "ingest", authPermissionClaim: "scope",
  authAnonymousNetworks: "10.0.0.0/8", authAnonymousPermissions: "stream:view", metricsNetworks: "10.1.0.0/16",
  loginMaxFailuresPerUser: "3", loginMaxAttemptsPerClient: "10", loginWindowMs: "60000", restRateLimitPerMinute: "100",
  grpcRateLimitPerMinute: "50", httpMaxConnectionsPerClient: "16", httpHeadersTimeoutMs: "5000", httpRequestTimeoutMs: "10000",
  rtcMaxPendingPerClient: "2", tlsCert: "/etc/ifc/tls/cert.pem", tlsKey: "/etc/ifc/tls/key.pem", tlsMinVersion: "TLSv1.3",
  hstsMaxAgeS: "0", grpcEnabled: "false", grpcHost: "127.0.0.1", grpcPort: "50060",
  rtspEnabled: "false", rtspHost: "127.0.0.1", rtspPort: "9554", rtspUdpPortMin: "31000", rtspUdpPortMax: "31999", rtspUdpRecvBufferBytes: "0",
  rtspSessionTimeoutMs: "30000", rtspMaxConnections: "16", rtspMaxHeaderBytes: "4096", rtspMaxBodyBytes: "8192", rtspWriteBufferBytes: "1048576",
  sources: '[{"name":"cam1","url":"rtsp://user:pass@cam.example.com/live","transport":"tcp","mode":"on-demand"}]',
  sourceConnectTimeoutMs: "5000", sourceRetryMinMs: "500", sourceRetryMaxMs: "60000", sourceOnDemandCloseAfterMs: "30000",
  nodeId: "node-a", eventBus: "kafka", kafkaBrokers: "k1:9092,k2:9092", kafkaReplicationFactor: "1", kafkaPartitions: "2", kafkaTopicPartitions: "stream-events=2",
  kafkaQueueMaxEvents: "500", state: "redis", redisUrl: "redis://redis.example.com:6380/1", registryTtlMs: "5000",
  databaseUrl: "postgres://ifc:pw@db.example.com:5432/ifc", pipelineServices: "AIDetectionService=10.0.0.7:50052", pipelineEmbeddedServices: "off",
  pipelineBalancing: "random", pipelineHealthIntervalMs: "5000", pipelinePoolSize: "4", pipelineCallTimeoutMs: "2000", pipelineMaxConcurrent: "8",
  pipelineQueueMax: "10", pipelineFallbackConsumers: "4", filesMaxBytes: "1048576", filesMaxCount: "3", filesAllowedTypes: "image/png",
  frameApiMaxPending: "4", frameApiMaxFrameBytes: "1048576", frameApiMaxSessions: "4", frameApiArchiveEveryNth: "10",
  cache: "redis", cacheMaxEntries: "500", productQrFormat: "custom", productQrCustomPattern: "^P(?<work_order_id>\\w+)$", productsBatchMax: "10",
  productsImportMaxBytes: "4096", productsImportMaxRows: "10", qualityAlertNgRate: "10", qualityWindowMs: "60000", qualityUpdateIntervalMs: "1000", syncMaxChanges: "50",
};

/** Keys whose cross-field rule needs a partner set with them. */
const PARTNERS: Partial<Record<ConfigKey, Record<string, string>>> = {
  rtcPortMin: { IFC_RTC_PORT_MAX: "50100" },
  rtcPortMax: { IFC_RTC_PORT_MIN: "50000" },
  rtspUdpPortMin: { IFC_RTSP_UDP_PORT_MAX: "31999" },
};

const KEYS = Object.keys(CONFIG_SPEC) as ConfigKey[];
const DEFAULTS = loadConfig({});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

describe("config", () => {
  it("has laptop defaults", () => {
    const c = loadConfig({});
    expect(c.httpPort).toBe(8080);
    expect(c.dataDir).toBe("./data");
    expect(c.segmentDurationMs).toBe(4000);
    expect(c.partDurationMs).toBe(1000);
    expect(c.iceServers).toEqual([]);
    expect(c.aiPriorities.size).toBe(0);
    expect(c.publicUrl).toBe("");
  });

  describe.each(KEYS)("%s", (key) => {
    const env = CONFIG_SPEC[key].env;
    it(`its variable changes it, and only it`, () => {
      expect(env).toMatch(/^IFC_[A-Z0-9_]+$/);
      const partners = PARTNERS[key] ?? {};
      const c = loadConfig({ [env]: NON_DEFAULT[key], ...partners });
      expect(c[key]).not.toEqual(DEFAULTS[key]);
      const partnerKeys = KEYS.filter((k) => CONFIG_SPEC[k].env in partners);
      for (const other of KEYS) if (other !== key && !partnerKeys.includes(other)) expect(c[other], other).toEqual(DEFAULTS[other]);
    });
  });

  it("parses the typed values: lists, maps, URLs", () => {
    const c = loadConfig({ IFC_ICE_SERVERS: "stun:a:3478, turn:b:3478", IFC_AI_PRIORITIES: "line1=10,dock=1", IFC_PUBLIC_URL: "https://x.example.com/ingest/" });
    expect(c.iceServers).toEqual(["stun:a:3478", "turn:b:3478"]);
    expect([...c.aiPriorities]).toEqual([["line1", 10], ["dock", 1]]);
    expect(c.publicUrl).toBe("https://x.example.com/ingest");
    expect(loadConfig({ IFC_PUBLIC_URL: "http://10.0.0.1:8080" }).publicUrl).toBe("http://10.0.0.1:8080");
  });

  it("IFC_DTLS_START_DELAY_MS takes 0 to 1000 ms and nothing beyond", () => {
    expect(loadConfig({}).dtlsStartDelayMs).toBe(40);
    expect(loadConfig({ IFC_DTLS_START_DELAY_MS: "0" }).dtlsStartDelayMs).toBe(0);
    expect(loadConfig({ IFC_DTLS_START_DELAY_MS: "1000" }).dtlsStartDelayMs).toBe(1000);
    expect(() => loadConfig({ IFC_DTLS_START_DELAY_MS: "1001" })).toThrow(/IFC_DTLS_START_DELAY_MS/);
    expect(() => loadConfig({ IFC_DTLS_START_DELAY_MS: "-1" })).toThrow(/IFC_DTLS_START_DELAY_MS/);
  });

  it("IFC_HEAP_GROWTH_PERCENT defaults to 100 and takes 0 (V8's own) to 1000 and nothing beyond", () => {
    expect(loadConfig({}).heapGrowthPercent).toBe(100);
    expect(loadConfig({ IFC_HEAP_GROWTH_PERCENT: "0" }).heapGrowthPercent).toBe(0);
    expect(loadConfig({ IFC_HEAP_GROWTH_PERCENT: "1000" }).heapGrowthPercent).toBe(1000);
    expect(() => loadConfig({ IFC_HEAP_GROWTH_PERCENT: "1001" })).toThrow(/IFC_HEAP_GROWTH_PERCENT/);
    expect(() => loadConfig({ IFC_HEAP_GROWTH_PERCENT: "-1" })).toThrow(/IFC_HEAP_GROWTH_PERCENT/);
    expect(() => loadConfig({ IFC_HEAP_GROWTH_PERCENT: "1.5" })).toThrow(/IFC_HEAP_GROWTH_PERCENT/);
  });

  it("IFC_MAX_CPU_PERCENT takes 0 (off) to 100 and nothing beyond", () => {
    expect(loadConfig({ IFC_MAX_CPU_PERCENT: "0" }).maxCpuPercent).toBe(0);
    expect(loadConfig({ IFC_MAX_CPU_PERCENT: "100" }).maxCpuPercent).toBe(100);
    expect(() => loadConfig({ IFC_MAX_CPU_PERCENT: "101" })).toThrow(/IFC_MAX_CPU_PERCENT/);
    expect(() => loadConfig({ IFC_MAX_CPU_PERCENT: "-1" })).toThrow(/IFC_MAX_CPU_PERCENT/);
  });

  it("refuses bad values with the variable's name", () => {
    expect(() => loadConfig({ IFC_HTTP_PORT: "80a" })).toThrow(/IFC_HTTP_PORT/);
    expect(() => loadConfig({ IFC_HTTP_PORT: "70000" })).toThrow(ConfigError);
    expect(() => loadConfig({ IFC_RECORD: "maybe" })).toThrow(/IFC_RECORD/);
    expect(() => loadConfig({ IFC_LOG_LEVEL: "loud" })).toThrow(/IFC_LOG_LEVEL/);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50000" })).toThrow(/both/);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50010", IFC_RTC_PORT_MAX: "50000" })).toThrow(ConfigError);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50000", IFC_RTC_PORT_MAX: "50000" })).toThrow(/two or more/);
    expect(loadConfig({ IFC_RTC_PORT_MIN: "50000", IFC_RTC_PORT_MAX: "50001" }).rtcPortMax).toBe(50001);
    expect(() => loadConfig({ IFC_PART_DURATION_MS: "5000" })).toThrow(/PART/);
    expect(() => loadConfig({ IFC_HTTP_PORT: "99999999999999999999" })).toThrow(/IFC_HTTP_PORT/);
  });

  it("refuses at load a QoS step-up period the QoS controller would refuse at first connect", () => {
    const edge = loadConfig({ IFC_QOS_STEP_UP_AFTER_MS: "60000" });
    expect(() => new QosController({ stepUpAfterMs: edge.qosStepUpAfterMs, stepDownAfterMs: edge.qosStepDownAfterMs })).not.toThrow();
    expect(() => loadConfig({ IFC_QOS_STEP_UP_AFTER_MS: "60001" })).toThrow(/IFC_QOS_STEP_UP_AFTER_MS/);
  });

  it("refuses a public URL that is not an absolute http(s) base", () => {
    for (const bad of ["ingest.example.com", "/ingest", "ftp://x.example.com", "https://x.example.com/?a=1", "https://x.example.com/#top"]) {
      expect(() => loadConfig({ IFC_PUBLIC_URL: bad }), bad).toThrow(/IFC_PUBLIC_URL/);
    }
  });

  it("names IFC_ variables that set nothing, with the closest known one", () => {
    expect(unknownEnvVariables({ IFC_HTTP_PORT: "1", IFC_CONFIG: "x.yaml", IFC_SEGMENT_DURATON_MS: "1", IFC_FFPROBE_PATH: "ffprobe", HOME: "/root" })).toEqual([
      { name: "IFC_SEGMENT_DURATON_MS", hint: "IFC_SEGMENT_DURATION_MS" },
      { name: "IFC_FFPROBE_PATH" }, // removed: nothing ran ffprobe
    ]);
  });

  describe("stream maps (IFC_AI_PRIORITIES, IFC_RETENTION_MINUTES_BY_STREAM)", () => {
    it("accept whitespace, empty entries and zero", () => {
      const c = loadConfig({ IFC_AI_PRIORITIES: " line1 = 10 ,, dock=0 ,", IFC_RETENTION_MINUTES_BY_STREAM: "cam_1=5" });
      expect([...c.aiPriorities]).toEqual([["line1", 10], ["dock", 0]]);
      expect(c.retentionMinutesByStream.get("cam_1")).toBe(5);
      expect(loadConfig({ IFC_AI_PRIORITIES: " , " }).aiPriorities.size).toBe(0);
      expect(loadConfig({ IFC_AI_PRIORITIES: "" }).aiPriorities.size).toBe(0); // empty = unset, as for every key
    });

    it.each([
      ["line1=abc", /IFC_AI_PRIORITIES: line1=abc: expected an integer/],
      ["line1=", /IFC_AI_PRIORITIES: line1=: expected an integer/],
      ["line1=-1", /IFC_AI_PRIORITIES: line1: -1 is outside/],
      ["line1=1.5", /expected an integer/],
      ["line1", /IFC_AI_PRIORITIES: "line1" is not name=value/],
      ["=5", /IFC_AI_PRIORITIES: "" is not a stream name/],
      ["bad name=5", /IFC_AI_PRIORITIES: "bad name" is not a stream name/],
      ["a/b=5", /"a\/b" is not a stream name/],
      [`${"x".repeat(65)}=5`, /is not a stream name/],
      ["line1=1,line1=2", /IFC_AI_PRIORITIES: "line1" is given twice/],
      ["line1=1=2", /expected an integer/],
    ])("refuse %j at load, naming the variable and the entry", (value, message) => {
      expect(() => loadConfig({ IFC_AI_PRIORITIES: value })).toThrow(message);
      expect(() => loadConfig({ IFC_RETENTION_MINUTES_BY_STREAM: value })).toThrow(/IFC_RETENTION_MINUTES_BY_STREAM/);
    });
  });

  describe("config file (IFC_CONFIG)", () => {
    it("takes the same keys as the environment, natively typed, and the environment wins", async () => {
      const p = await file("ifc.yaml", [
        "# comments are fine",
        "IFC_HTTP_PORT: 9000",
        "segmentDurationMs: 6000",
        "recordByDefault: false",
        "iceServers: [stun:a:3478, turn:b:3478]",
        "aiPriorities:",
        "  line1: 10",
        "  dock: 1",
        "IFC_RETENTION_MINUTES_BY_STREAM: cam1=5,dock=60",
        "logLevel: debug",
        "iceUsername: 1234",
        "corsOrigins:", // no value: not set
      ].join("\n"));
      const c = loadConfig({ IFC_CONFIG: p, IFC_LOG_LEVEL: "warn" });
      expect(c.httpPort).toBe(9000);
      expect(c.segmentDurationMs).toBe(6000);
      expect(c.recordByDefault).toBe(false);
      expect(c.iceServers).toEqual(["stun:a:3478", "turn:b:3478"]);
      expect([...c.aiPriorities]).toEqual([["line1", 10], ["dock", 1]]);
      expect([...c.retentionMinutesByStream]).toEqual([["cam1", 5], ["dock", 60]]);
      expect(c.logLevel).toBe("warn"); // the environment overrides the file
      expect(c.iceUsername).toBe("1234");
      expect(c.corsOrigins).toEqual(DEFAULTS.corsOrigins);
      // the file overrides what the caller passed as defaults (the test harness's overrides)
      expect(loadConfig({ IFC_CONFIG: p }, { httpPort: 0 }).httpPort).toBe(9000);
    });

    it("takes every key's non-default value as text too", async () => {
      const p = await file("all.yaml", KEYS.map((k) => `${k}: ${JSON.stringify(NON_DEFAULT[k])}`).join("\n"));
      const c = loadConfig({ IFC_CONFIG: p });
      const env = loadConfig(Object.fromEntries(KEYS.map((k) => [CONFIG_SPEC[k].env, NON_DEFAULT[k]])));
      for (const k of KEYS) expect(c[k], k).toEqual(env[k]);
    });

    it("reads JSON for a .json file", async () => {
      const p = await file("ifc.json", JSON.stringify({ httpPort: 9001, IFC_AI_PRIORITIES: { line1: 3 }, aiWorkers: ["w1:50051"] }));
      const c = loadConfig({ IFC_CONFIG: p });
      expect(c.httpPort).toBe(9001);
      expect(c.aiPriorities.get("line1")).toBe(3);
      expect(c.aiWorkers).toEqual(["w1:50051"]);
      const bad = await file("bad.json", "{ httpPort: 1 }");
      expect(() => loadConfig({ IFC_CONFIG: bad })).toThrow(new RegExp(`${bad}: not valid JSON`));
    });

    it("refuses unknown keys by name, with the closest known key", async () => {
      const p = await file("typo.yaml", "httpPrt: 9000\n");
      expect(() => loadConfig({ IFC_CONFIG: p })).toThrow(`${p}: unknown key "httpPrt" (did you mean "httpPort"?)`);
      const q = await file("typo2.yaml", "IFC_SEGMENT_DURATON_MS: 6000\n");
      expect(() => loadConfig({ IFC_CONFIG: q })).toThrow(/unknown key "IFC_SEGMENT_DURATON_MS" \(did you mean "IFC_SEGMENT_DURATION_MS"\?\)/);
      const r = await file("far.yaml", "cameras: {}\n");
      expect(() => loadConfig({ IFC_CONFIG: r })).toThrow(new RegExp(`unknown key "cameras"$`));
      const twice = await file("twice.yaml", "httpPort: 1\nIFC_HTTP_PORT: 2\n");
      expect(() => loadConfig({ IFC_CONFIG: twice })).toThrow(/"IFC_HTTP_PORT" and "httpPort" set the same key/);
    });

    it.each([
      ["httpPort: eighty", /httpPort: expected an integer, got "eighty"/],
      ["httpPort: 80.5", /httpPort: expected an integer, got number 80.5/],
      ["httpPort: 70000", /httpPort: 70000 is outside/],
      ["recordByDefault: 1", /recordByDefault: expected true\/false, got number 1/],
      ["iceServers: {a: 1}", /iceServers: expected a list of strings, got a map/],
      ["aiPriorities: [line1]", /aiPriorities: expected a map of name: integer, got a list/],
      ["aiPriorities: {line1: abc}", /aiPriorities: line1=abc: expected an integer/],
      ["logLevel: [debug]", /logLevel: expected a string, got a list/],
      ["publicUrl: example.com", /publicUrl: "example.com" is not an absolute URL/],
    ])("refuses %j naming the key and the file", async (line, message) => {
      const p = await file("type.yaml", line);
      expect(() => loadConfig({ IFC_CONFIG: p })).toThrow(message);
      expect(() => loadConfig({ IFC_CONFIG: p })).toThrow(p);
    });

    it("refuses a missing file, malformed YAML and a top level that is not a map", async () => {
      const missing = path.join(dir, "nope.yaml");
      expect(() => loadConfig({ IFC_CONFIG: missing })).toThrow(`IFC_CONFIG: cannot read ${missing}`);
      const malformed = await file("bad.yaml", "httpPort: [1\n");
      expect(() => loadConfig({ IFC_CONFIG: malformed })).toThrow(`${malformed}: not valid YAML`);
      const dup = await file("dup.yaml", "httpPort: 1\nhttpPort: 2\n");
      expect(() => loadConfig({ IFC_CONFIG: dup })).toThrow(`${dup}: not valid YAML`);
      const listTop = await file("list.yaml", "- httpPort\n");
      expect(() => loadConfig({ IFC_CONFIG: listTop })).toThrow(`${listTop}: expected a map of settings at the top level`);
      const empty = await file("empty.yaml", "# nothing set yet\n");
      expect(loadConfig({ IFC_CONFIG: empty })).toEqual(DEFAULTS);
    });
  });

  it("is documented: the README table names every variable, and the config file", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const spec of Object.values(CONFIG_SPEC)) expect(readme).toContain(`\`${spec.env}\``);
    expect(readme).toContain("`IFC_CONFIG`");
  });

  it("loads the README's example config file", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const example = /```yaml\n(# ingest\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const c = loadConfig({ IFC_CONFIG: await file("readme.yaml", example ?? "") });
    expect(c.publicUrl).toBe("https://ingest.example.com");
    expect(c.retentionMinutesByStream.get("dock")).toBe(60);
    expect(c.aiPriorities.get("line1")).toBe(10);
  });
});
