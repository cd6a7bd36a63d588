import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../../src/control/auth/password.js";
import { UserStore } from "../../src/control/auth/user-store.js";
import { startTestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** `npm run users -- …` as a user runs it: tsx on scripts/users.ts, its own process. */
function users(dataDir: string, args: string[], stdin?: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/users.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, IFC_DATA_DIR: dataDir, IFC_USERS_FILE: "", IFC_AUTH_KEYS_DIR: "" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdin.end(stdin ?? "");
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out, err })));
}

describe("users CLI", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ifc-users-cli-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const store = async (): Promise<UserStore> => {
    const s = new UserStore(path.join(dir, "users.json"));
    await s.init(path.join(dir, "initial-admin-password"));
    return s;
  };

  it("add with a generated password (first use also creates admin), then list", async () => {
    const r = await users(dir, ["add", "alice", "--role", "operator", "--grant", "system:admin"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^added alice \(operator, system:admin\)$/m);
    const pw = /^password: (\S+)$/m.exec(r.out)?.[1];
    expect(pw?.length).toBeGreaterThanOrEqual(24);
    expect(r.err).toMatch(/created user admin/);
    expect((await stat(path.join(dir, "initial-admin-password"))).mode & 0o777).toBe(0o600);
    expect(await verifyPassword(pw!, (await (await store()).get("alice"))!.password_hash)).toBe(true);

    const list = await users(dir, ["list"]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^admin\s+admin\s+active/m);
    expect(list.out).toMatch(/^alice\s+operator\s+active\s+system:admin$/m);
    expect(list.out).not.toContain("scrypt");
  });

  it("disable, enable, passwd (flag and stdin), role", async () => {
    expect((await users(dir, ["disable", "alice"])).out).toContain("alice disabled");
    expect((await (await store()).get("alice"))?.disabled).toBe(true);
    expect((await users(dir, ["enable", "alice"])).code).toBe(0);
    expect((await (await store()).get("alice"))?.disabled).toBe(false);
    expect((await users(dir, ["passwd", "alice", "--password", "a-chosen-password"])).code).toBe(0);
    expect(await verifyPassword("a-chosen-password", (await (await store()).get("alice"))!.password_hash)).toBe(true);
    expect((await users(dir, ["passwd", "alice", "--password-stdin"], "from-stdin-password\n")).code).toBe(0);
    expect(await verifyPassword("from-stdin-password", (await (await store()).get("alice"))!.password_hash)).toBe(true);
    const role = await users(dir, ["role", "alice", "viewer"]);
    expect([role.code, role.out.trim()]).toEqual([0, "alice is now viewer"]);
    await users(dir, ["add", "temp", "--role", "viewer", "--password", "temp-password"]);
    expect((await users(dir, ["remove", "temp"])).out.trim()).toBe("temp removed");
    expect(await (await store()).get("temp")).toBeUndefined();
  });

  it("refusals: exit 1 with a clear message (unknown user, taken name, bad role, weak password); 2 for usage", async () => {
    const unknown = await users(dir, ["disable", "nobody"]);
    expect([unknown.code, unknown.err.trim()]).toEqual([1, 'error: no user "nobody"']);
    expect((await users(dir, ["add", "alice", "--role", "viewer"])).err).toMatch(/already exists/);
    const badRole = await users(dir, ["role", "alice", "root"]);
    expect(badRole.code).toBe(1);
    expect(badRole.err).toMatch(/must be one of admin, operator, viewer/);
    expect((await users(dir, ["passwd", "alice", "--password", "short"])).err).toMatch(/at least 8/);
    const usage = await users(dir, ["frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/unknown command "frobnicate"[\s\S]*usage: npm run users/);
    expect((await users(dir, ["add", "bob"])).code).toBe(2); // no --role
    expect((await users(dir, [])).code).toBe(2);
  });

  it("rotate-key makes a new signing key and keeps the old public key", async () => {
    const first = await users(dir, ["rotate-key"]);
    expect(first.code).toBe(0);
    const second = await users(dir, ["rotate-key"]);
    expect(second.code).toBe(0);
    const kid = /new signing key (\S+);/.exec(second.out)?.[1];
    const index = JSON.parse(await readFile(path.join(dir, "auth", "keyring.json"), "utf8")) as { keys: { kid: string; retired_at?: string }[] };
    expect(index.keys.filter((k) => k.retired_at === undefined).map((k) => k.kid)).toEqual([kid]);
    expect(index.keys.length).toBe(3);
  });
});

describe("users CLI beside a running server", () => {
  it("a user added by the CLI logs in at once; disabled by the CLI, their token stops working", async () => {
    const ts = await startTestServer();
    try {
      const add = await users(ts.dataDir, ["add", "carl", "--role", "viewer", "--password", "carl-password"]);
      expect(add.code).toBe(0);
      const login = async (): Promise<Response> =>
        fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "carl", password: "carl-password" }) });
      const ok = await login();
      expect(ok.status).toBe(200);
      const { access_token } = (await ok.json()) as { access_token: string };
      expect((await ts.server.auth.authenticator.verifyBearer(access_token, "c")).subject).toBe("carl");
      expect((await users(ts.dataDir, ["disable", "carl"])).code).toBe(0);
      // The server rereads the users file at most once a second.
      await waitFor(async () => (await ts.server.auth.authenticator.verifyBearer(access_token, "c").then(() => false, () => true)), { what: "disabled user refused" });
      expect((await login()).status).toBe(401);
    } finally {
      await ts.stop();
    }
  });
});
