/**
 * A bad setting stops `src/main.ts` before anything starts (exit 2, the variable named), and the
 * config file reaches the real process with the environment overriding it; main applies
 * IFC_HEAP_GROWTH_PERCENT (logged at start).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnServer } from "../support/server-harness.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-config-startup-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs main with `env` and resolves with its exit code and stderr once it exits. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: { ...process.env, IFC_HTTP_HOST: "127.0.0.1", IFC_HTTP_PORT: "0", IFC_RTSP_PORT: "0", IFC_DATA_DIR: dir, IFC_AI_ENABLED: "false", IFC_GRPC_ENABLED: "false", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

describe("startup configuration", () => {
  it("exits 2 on a bad map entry, naming the variable and the entry", async () => {
    const { code, stderr } = await runMain({ IFC_AI_PRIORITIES: "line1=abc" });
    expect(code).toBe(2);
    expect(stderr).toContain("configuration error: IFC_AI_PRIORITIES: line1=abc: expected an integer");
  }, 60_000);

  it("exits 2 on an unknown key in the config file, naming the file and the key", async () => {
    const file = path.join(dir, "typo.yaml");
    await writeFile(file, "retentionMinute: 5\n");
    const { code, stderr } = await runMain({ IFC_CONFIG: file });
    expect(code).toBe(2);
    expect(stderr).toContain(`${file}: unknown key "retentionMinute" (did you mean "retentionMinutes"?)`);
  }, 60_000);

  it("runs on the config file, with the environment overriding it", async () => {
    const file = path.join(dir, "ifc.yaml");
    // Port 1 would fail to bind: the harness's IFC_HTTP_PORT=0 must win over it.
    await writeFile(file, ["httpPort: 1", "corsOrigins: https://app.example.com", "publicUrl: https://ingest.example.com/"].join("\n"));
    const proc = await spawnServer({ IFC_CONFIG: file }, dir);
    try {
      const res = await fetch(`${proc.url}/health`, { headers: { origin: "https://app.example.com" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(proc.output()).toContain('"publicUrl":"https://ingest.example.com"');
      // main sets V8's heap growth from IFC_HEAP_GROWTH_PERCENT (default 100) before starting.
      expect(proc.output()).toContain('"v8Heap":"--heap-growing-percent=100"');
    } finally {
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);

  it("leaves V8's heap growth alone with IFC_HEAP_GROWTH_PERCENT=0", async () => {
    const proc = await spawnServer({ IFC_HEAP_GROWTH_PERCENT: "0" }, dir);
    try {
      expect((await fetch(`${proc.url}/health`)).status).toBe(200);
      expect(proc.output()).toContain('"v8Heap":"V8 defaults"');
      expect(proc.output()).not.toContain("heap-growing-percent");
    } finally {
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);
});
