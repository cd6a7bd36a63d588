import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig, unknownEnvVariables } from "../../src/config.js";
import { COMPOSE_CHECK_BIN, K8S_SCHEMA_DIR, KUBECONFORM_BIN, schemaLocations } from "../support/deploy-tools.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const k8sDir = path.join(root, "deploy/k8s");

/** The reference worker reads its own variables (src/worker/main.ts), not CONFIG_SPEC. */
const WORKER_KEYS = new Set([...readFileSync(path.join(root, "src/worker/main.ts"), "utf8").matchAll(/process\.env\.(IFC_[A-Z0-9_]+)/g)].map((m) => m[1]));

/** IFC_* names CONFIG_SPEC does not know. */
function unknownKeys(env: Record<string, string>): string[] {
  return unknownEnvVariables(env).map((u) => u.name);
}

/** Sample values for docker/.env, to resolve the compose file's ${VAR} references as compose would. */
const COMPOSE_SAMPLE_ENV: Record<string, string> = {
  HOST_IP: "203.0.113.10", PUBLIC_HOST: "ingest.example.com", S3_ACCESS_KEY: "ifc", S3_SECRET_KEY: "s3-secret-sample",
  REDIS_PASSWORD: "redis-sample", GRAFANA_ADMIN_PASSWORD: "grafana-sample", KAFKA_CLUSTER_ID: "4L6g3nShT-eMCtK--X86sw",
};
const COMPOSE_VAR = /\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}/g;

function interpolate(value: string): string {
  return value.replace(COMPOSE_VAR, (_m, name: string) => {
    const sample = COMPOSE_SAMPLE_ENV[name];
    if (sample === undefined) throw new Error(`no sample value for \${${name}}`);
    return sample;
  });
}

interface ComposeService {
  image?: string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const composeText = readFileSync(path.join(root, "docker/docker-compose.yml"), "utf8");
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);

function envOf(svc: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ""))]));
}

const ingest = services.filter(([, s]) => s.environment?.IFC_NODE_ID !== undefined);

const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-deploy-"));
  scratch.push(dir);
  return dir;
}

/** compose-check's verdict on the compose file with the variables of `envFile`: the resolved project, or its complaint. */
async function composeCheck(envFile: string): Promise<{ ok: true; project: { services: Record<string, { environment?: Record<string, string> }> } } | { ok: false; stderr: string }> {
  if (!existsSync(COMPOSE_CHECK_BIN)) throw new Error(`compose-check missing at ${COMPOSE_CHECK_BIN}: run bash scripts/setup.sh test (or set IFC_COMPOSE_CHECK_BIN)`);
  try {
    const { stdout } = await run(COMPOSE_CHECK_BIN, [path.join(root, "docker/docker-compose.yml"), envFile], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return { ok: true, project: JSON.parse(stdout) as { services: Record<string, { environment?: Record<string, string> }> } };
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    if (e.code !== 1) throw err;
    return { ok: false, stderr: e.stderr ?? "" };
  }
}

/** The Kafka release the compose file runs: the one the test broker is pinned to (scripts/versions.env). */
const KAFKA_VERSION = /^KAFKA_VERSION=(\S+)$/m.exec(readFileSync(path.join(root, "scripts/versions.env"), "utf8"))?.[1];
if (!KAFKA_VERSION) throw new Error("scripts/versions.env has no KAFKA_VERSION");

interface PortRange { lo: number; hi: number }

/** Published "[ip:]host:container[/proto]" entries of a service, as host and container ranges. */
function mappings(svc: ComposeService, proto: "tcp" | "udp"): { host: PortRange; container: PortRange }[] {
  return (svc.ports ?? []).flatMap((p) => {
    const m = /^(?:[\d.]+:)?(\d+)(?:-(\d+))?:(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(p);
    if (!m) throw new Error(`unparsed port mapping ${p}`);
    if ((m[5] ?? "tcp") !== proto) return [];
    return [{ host: { lo: Number(m[1]), hi: Number(m[2] ?? m[1]) }, container: { lo: Number(m[3]), hi: Number(m[4] ?? m[3]) } }];
  });
}

/** Published UDP ranges: under the container's own numbers, because ICE candidates and RTSP Transport headers announce those. */
function udpPorts(name: string, svc: ComposeService): PortRange[] {
  return mappings(svc, "udp").map(({ host, container }) => {
    expect(host, `${name}: UDP published under the container's numbers`).toEqual(container);
    return host;
  });
}

describe("docker/docker-compose.yml", () => {
  it("runs at least two ingest nodes with unique ids and public URLs, each published on its own HTTP port", () => {
    expect(ingest.length).toBeGreaterThanOrEqual(2);
    const ids = ingest.map(([, s]) => envOf(s).IFC_NODE_ID);
    const urls = ingest.map(([, s]) => envOf(s).IFC_PUBLIC_URL);
    expect(new Set(ids).size, "unique IFC_NODE_ID").toBe(ingest.length);
    expect(new Set(urls).size, "unique IFC_PUBLIC_URL").toBe(ingest.length);
    for (const [name, s] of ingest) {
      const config = loadConfig(envOf(s));
      const port = Number(new URL(config.publicUrl).port);
      expect(mappings(s, "tcp"), `${name}: IFC_PUBLIC_URL's port ${port} is published to IFC_HTTP_PORT`)
        .toContainEqual({ host: { lo: port, hi: port }, container: { lo: config.httpPort, hi: config.httpPort } });
      const rtsp = { lo: config.rtspPort, hi: config.rtspPort };
      expect(mappings(s, "tcp"), `${name}: RTSP published under its own number (the same rtsp:// URL inside and out)`).toContainEqual({ host: rtsp, container: rtsp });
    }
  });

  it("gives every ingest node distinct UDP ranges for WebRTC and RTSP, published exactly", () => {
    const all: (PortRange & { what: string })[] = [];
    for (const [name, s] of ingest) {
      const c = loadConfig(envOf(s));
      const udp = udpPorts(name, s);
      for (const [what, lo, hi] of [["rtc", c.rtcPortMin, c.rtcPortMax], ["rtsp", c.rtspUdpPortMin, c.rtspUdpPortMax]] as const) {
        expect(lo, `${name}: ${what} range set`).toBeGreaterThan(0);
        expect(udp, `${name}: ${what} range ${lo}-${hi} published as one mapping`).toContainEqual({ lo, hi });
        all.push({ what: `${name} ${what}`, lo, hi });
      }
      expect(udp.length, `${name}: no UDP published beyond its two ranges`).toBe(2);
    }
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) expect(a.hi < b.lo || b.hi < a.lo, `${a.what} ${a.lo}-${a.hi} overlaps ${b.what} ${b.lo}-${b.hi}`).toBe(true);
    }
  });

  it("uses only configuration keys the server or the worker knows, with values the server accepts", () => {
    for (const [name, s] of services) {
      const env = envOf(s);
      if (ingest.some(([n]) => n === name)) {
        expect(unknownKeys(env), name).toEqual([]);
        expect(() => loadConfig(env), name).not.toThrow();
      } else {
        const ifc = Object.keys(env).filter((k) => k.startsWith("IFC_"));
        expect(ifc.filter((k) => !WORKER_KEYS.has(k)), name).toEqual([]);
      }
    }
  });

  it("puts every node behind the load balancer and in Prometheus' targets", () => {
    const lb = readFileSync(path.join(root, "docker/nginx/ifc-lb.conf"), "utf8");
    const prom = parse(readFileSync(path.join(root, "docker/prometheus-cluster.yml"), "utf8")) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets));
    for (const [name, s] of ingest) {
      const port = loadConfig(envOf(s)).httpPort;
      expect(lb, name).toContain(`server ${name}:${port}`);
      expect(targets, name).toContain(`${name}:${port}`);
    }
    expect(targets.length).toBe(ingest.length);
    expect(compose.services.lb?.ports).toEqual(["8080:80"]);
  });

  it("is valid Compose (compose-go, the spec's loader) and resolves as these checks read it", async () => {
    const envFile = path.join(await scratchDir(), "env");
    await writeFile(envFile, Object.entries(COMPOSE_SAMPLE_ENV).map(([k, v]) => `${k}=${v}`).join("\n"));
    const result = await composeCheck(envFile);
    if (!result.ok) throw new Error(`compose-check refused docker/docker-compose.yml:\n${result.stderr}`);
    expect(Object.keys(result.project.services).sort()).toEqual(services.map(([n]) => n).sort());
    for (const [name, s] of services) expect(result.project.services[name]?.environment ?? {}, name).toEqual(envOf(s));
    const shipped = await composeCheck(path.join(root, "docker/.env.example"));
    expect(shipped.ok, "loads with docker/.env.example as it is").toBe(true);
  });

  it("refuses to start without docker/.env: no secret has a default", async () => {
    const empty = path.join(await scratchDir(), "empty.env");
    await writeFile(empty, "");
    const result = await composeCheck(empty);
    expect(result.ok).toBe(false);
    const required = [...new Set([...composeText.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]))];
    expect(required).toEqual(expect.arrayContaining(["S3_SECRET_KEY", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "HOST_IP", "PUBLIC_HOST"]));
    if (!result.ok) for (const v of required) expect(result.stderr, v).toContain(`required variable ${v} is missing`);
  });

  it("health-checks every service and starts each after what it depends on is healthy", () => {
    for (const [name, s] of services) {
      expect(s.healthcheck?.test.length, `${name} has a healthcheck`).toBeGreaterThan(0);
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(cond.condition, `${name} → ${dep}`).toBe("service_healthy");
      }
    }
    for (const [name, s] of ingest) expect(s.healthcheck?.test.join(" "), name).toContain("/health");
    for (const dep of ["kafka-1", "redis", "minio"]) expect(Object.keys(ingest[0]?.[1].depends_on ?? {})).toContain(dep);
    const kafka = services.filter(([, s]) => s.image?.startsWith("apache/kafka:"));
    expect(kafka.length, "three KRaft brokers").toBe(3);
    for (const [name, s] of kafka) expect(s.image, name).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it("pins every image and keeps secrets out of the file (docker/.env, from .env.example)", () => {
    for (const [name, s] of services) if (s.image) expect(s.image, name).toMatch(/:(?!latest$)[\w.-]+$/);
    const referenced = new Set([...composeText.matchAll(COMPOSE_VAR)].map((m) => m[1]));
    const example = readFileSync(path.join(root, "docker/.env.example"), "utf8");
    for (const v of referenced) expect(example, `docker/.env.example documents ${v}`).toMatch(new RegExp(`^#? ?${v}=`, "m"));
    for (const [name, s] of services) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (/SECRET|PASSWORD|REDIS_URL|ACCESS_KEY/.test(k)) expect(String(v), `${name} ${k} comes from docker/.env`).toMatch(/^[^$]*\$\{[A-Z0-9_]+:\?[^}]*\}[^$]*$/);
      }
    }
    expect(readFileSync(path.join(root, ".gitignore"), "utf8")).toMatch(/^docker\/\.env$/m);
  });
});

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
}

interface Container {
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  resources?: { requests?: object; limits?: object };
}

const kustomization = parse(readFileSync(path.join(k8sDir, "kustomization.yaml"), "utf8")) as { resources: string[] };
const manifests = kustomization.resources.map((f) => path.join(k8sDir, f));
const docs: K8sDoc[] = manifests.flatMap((f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS() as K8sDoc));
const byKind = (kind: string): K8sDoc[] => docs.filter((d) => d.kind === kind);

/** Resolves the kubelet's $(VAR) references the way they resolve in a pod. */
function podEnv(env: Container["env"], base: Record<string, string>): Record<string, string> {
  const samples: Record<string, string> = { POD_NAME: "ifc-ingest-0", HOST_IP: "198.51.100.7" };
  const out = { ...base };
  for (const e of env ?? []) {
    out[e.name] = e.value !== undefined ? e.value.replace(/\$\(([A-Z0-9_]+)\)/g, (_m, n: string) => out[n] ?? samples[n] ?? `$(${n})`) : samples[e.name] ?? "";
  }
  return out;
}

describe("deploy/k8s", () => {

  it("kustomization.yaml lists every manifest in the directory", () => {
    const files = readdirSync(k8sDir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
    expect([...kustomization.resources].sort()).toEqual(files);
  });

  /** kubeconform's JSON report on `files`, strict, with the local schemas only; it exits 1 when something is invalid. */
  async function kubeconform(files: string[]): Promise<string> {
    if (!existsSync(KUBECONFORM_BIN)) throw new Error(`kubeconform missing at ${KUBECONFORM_BIN}: run bash scripts/setup.sh test (or set IFC_KUBECONFORM_BIN)`);
    if (!existsSync(K8S_SCHEMA_DIR)) throw new Error(`schemas missing at ${K8S_SCHEMA_DIR}: run bash scripts/setup.sh test (or set IFC_K8S_SCHEMA_DIR)`);
    try {
      return (await run(KUBECONFORM_BIN, ["-strict", "-summary", "-output", "json", ...schemaLocations(), ...files], { timeout: 60_000 })).stdout;
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string };
      if (e.code !== 1) throw err;
      return e.stdout ?? "";
    }
  }

  it("passes kubeconform -strict against the pinned Kubernetes and ServiceMonitor schemas: none invalid, none skipped", async () => {
    const stdout = await kubeconform(manifests);
    const report = JSON.parse(stdout) as { resources: { kind: string; status: string; msg: string }[]; summary: { valid: number; invalid: number; errors: number; skipped: number } };
    expect(report.resources.filter((r) => r.status !== "statusValid"), "problems").toEqual([]);
    expect(report.summary).toEqual({ valid: docs.length, invalid: 0, errors: 0, skipped: 0 });
    expect(new Set(docs.map((d) => d.kind))).toEqual(new Set([
      "Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "StatefulSet", "Service", "Ingress", "PodDisruptionBudget", "Deployment", "ServiceMonitor",
    ]));
  });

  it("kubeconform rejects an unknown field (the schemas are really applied, strictly)", async () => {
    const dir = await scratchDir();
    const broken = readFileSync(path.join(k8sDir, "servicemonitor.yaml"), "utf8").replace("interval: 15s", "intervall: 15s");
    await writeFile(path.join(dir, "servicemonitor.yaml"), broken);
    const stdout = await kubeconform([path.join(dir, "servicemonitor.yaml")]);
    expect(stdout).toMatch(/"invalid": 1/);
    expect(stdout).toContain("intervall");
  });

  it("ingest StatefulSet: node id from the pod name, host network with one pod per node, probes, resources", () => {
    const [sts] = byKind("StatefulSet");
    const pod = (sts?.spec?.template as { spec: { hostNetwork: boolean; dnsPolicy: string; containers: Container[]; affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { topologyKey: string }[] } } } }).spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]?.topologyKey).toBe("kubernetes.io/hostname");
    const [c] = pod.containers;
    expect(c?.env?.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    expect(c?.env?.find((e) => e.name === "IFC_NODE_ID")?.value).toBe("$(POD_NAME)");
    // ICE bound to the node's address: on the host network it would otherwise gather on every CNI interface.
    expect(c?.env?.find((e) => e.name === "HOST_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.hostIP");
    expect(c?.env?.find((e) => e.name === "IFC_RTC_INTERFACE_ADDRESS")?.value).toBe("$(HOST_IP)");
    expect(c?.env?.find((e) => e.name === "IFC_PUBLIC_URL")?.value).toBe("http://$(HOST_IP):8080");
    expect(c?.readinessProbe?.httpGet?.path).toBe("/ready");
    expect(c?.livenessProbe?.httpGet?.path).toBe("/health");
    expect(c?.resources?.requests).toBeDefined();
    expect(c?.resources?.limits).toBeDefined();
    expect(byKind("Service").some((s) => s.spec?.clusterIP === "None" && s.metadata.name === sts?.spec?.serviceName)).toBe(true);
  });

  it("uses only configuration keys the server or the worker knows, with values the server accepts", () => {
    const config = byKind("ConfigMap")[0]?.data ?? {};
    const secret = byKind("Secret")[0]?.stringData ?? {};
    const [sts] = byKind("StatefulSet");
    const [c] = (sts?.spec?.template as { spec: { containers: Container[] } }).spec.containers;
    const env = podEnv(c?.env, { ...config, ...secret });
    expect(unknownKeys(env)).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();
    expect(env.IFC_NODE_ID).toBe("ifc-ingest-0");
    const [worker] = (byKind("Deployment")[0]?.spec?.template as { spec: { containers: Container[] } }).spec.containers;
    expect((worker?.env ?? []).map((e) => e.name).filter((n) => !WORKER_KEYS.has(n))).toEqual([]);
  });
});
