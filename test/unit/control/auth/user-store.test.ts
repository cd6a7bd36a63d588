import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openUserStore } from "../../../../src/composition/auth.js";
import { loadConfig } from "../../../../src/config.js";
import { verifyPassword } from "../../../../src/control/auth/password.js";
import { userPermissions, UserStore } from "../../../../src/control/auth/user-store.js";
import { Conflict, InvalidInput, NotFound } from "../../../../src/core/errors.js";
import { TEST_SCRYPT } from "../../../support/auth-fixture.js";

function capturedLogger(): { logger: pino.Logger; lines: () => string } {
  let out = "";
  const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => ((out += chunk.toString()), cb()) });
  return { logger: pino({ level: "info" }, sink), lines: () => out };
}

describe("user store", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ifc-users-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("first start creates admin with a random password, logged once and written 0600; a second start does not", async () => {
    const config = loadConfig({}, { dataDir: dir });
    const first = capturedLogger();
    const users = await openUserStore(config, first.logger, { scrypt: TEST_SCRYPT });
    const password = (await readFile(path.join(dir, "initial-admin-password"), "utf8")).trim();
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect((await stat(path.join(dir, "initial-admin-password"))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, "users.json"))).mode & 0o777).toBe(0o600);
    expect(first.lines().split(password).length - 1).toBe(1); // logged exactly once
    expect(first.lines()).toContain('"level":40'); // as a warning
    const admin = await users.get("admin");
    expect(admin?.role).toBe("admin");
    expect(await verifyPassword(password, admin!.password_hash)).toBe(true);
    expect(await readFile(path.join(dir, "users.json"), "utf8")).not.toContain(password);

    const second = capturedLogger();
    const again = await openUserStore(config, second.logger, { scrypt: TEST_SCRYPT });
    expect(second.lines()).not.toContain(password);
    expect(second.lines()).not.toContain("initialAdminPassword");
    expect((await again.get("admin"))?.password_hash).toBe(admin!.password_hash);
  });

  it("IFC_USERS_FILE places the file elsewhere", async () => {
    const file = path.join(dir, "elsewhere", "u.json");
    await openUserStore(loadConfig({}, { dataDir: dir, usersFile: file }), pino({ level: "silent" }), { scrypt: TEST_SCRYPT });
    expect((await stat(file)).isFile()).toBe(true);
  });

  it("add, list, disable, enable, set password and role; the list never shows hashes", async () => {
    const users = new UserStore(path.join(dir, "users.json"), { scrypt: TEST_SCRYPT });
    await users.init(path.join(dir, "pw"));
    await users.add("alice", "operator", "alice-password", ["stream:publish:line1-*"]);
    await expect(users.add("alice", "viewer", "another-password")).rejects.toBeInstanceOf(Conflict);
    const list = users.list();
    expect(list.map((u) => u.username)).toEqual(["admin", "alice"]);
    expect(JSON.stringify(list)).not.toContain("scrypt");
    expect((await users.setDisabled("alice", true)).disabled).toBe(true);
    expect((await users.setDisabled("alice", false)).disabled).toBe(false);
    await users.setPassword("alice", "new-alice-password");
    expect(await verifyPassword("new-alice-password", (await users.get("alice"))!.password_hash)).toBe(true);
    expect((await users.setRole("alice", "viewer")).role).toBe("viewer");
    const alice = (await users.get("alice"))!;
    expect(userPermissions(alice)).toContain("stream:publish:line1-*");
    expect(userPermissions(alice)).toContain("stream:view");
    expect(userPermissions(alice)).not.toContain("recording:control");
  });

  it("the last active admin cannot be disabled or demoted", async () => {
    const users = new UserStore(path.join(dir, "users.json"), { scrypt: TEST_SCRYPT });
    await users.init(path.join(dir, "pw"));
    await expect(users.setDisabled("admin", true)).rejects.toMatchObject({ slug: "last-admin" });
    await expect(users.setRole("admin", "operator")).rejects.toMatchObject({ slug: "last-admin" });
    await users.add("root2", "admin", "root2-password");
    await users.setDisabled("admin", true);
    await expect(users.setRole("root2", "viewer")).rejects.toBeInstanceOf(Conflict);
    await users.setPassword("root2", "another-password"); // other changes stay possible
  });

  it("refuses bad names, roles, passwords and grants, and unknown users", async () => {
    const users = new UserStore(path.join(dir, "users.json"), { scrypt: TEST_SCRYPT });
    await users.init(path.join(dir, "pw"));
    for (const name of ["", "../x", "a b", "-lead", "x".repeat(65)]) await expect(users.add(name, "viewer", "password1")).rejects.toBeInstanceOf(InvalidInput);
    await expect(users.add("bob", "root", "password1")).rejects.toBeInstanceOf(InvalidInput);
    await expect(users.add("bob", "viewer", "short")).rejects.toBeInstanceOf(InvalidInput);
    await expect(users.add("bob", "viewer", "password1", ["stream view"])).rejects.toBeInstanceOf(InvalidInput);
    await expect(users.setRole("nobody", "viewer")).rejects.toBeInstanceOf(NotFound);
  });

  it("sees changes another process wrote (the CLI), and concurrent writes keep every change", async () => {
    const file = path.join(dir, "users.json");
    const server = new UserStore(file, { scrypt: TEST_SCRYPT, recheckMs: 0 });
    await server.init(path.join(dir, "pw"));
    const cli = new UserStore(file, { scrypt: TEST_SCRYPT });
    await cli.init(path.join(dir, "pw"));
    await cli.add("carol", "viewer", "carol-password");
    expect((await server.get("carol"))?.role).toBe("viewer");
    await cli.setDisabled("carol", true);
    expect((await server.get("carol"))?.disabled).toBe(true);
    await Promise.all([server.add("d1", "viewer", "password1"), server.add("d2", "viewer", "password2"), server.setRole("carol", "operator")]);
    const fresh = new UserStore(file, { scrypt: TEST_SCRYPT });
    await fresh.init(path.join(dir, "pw"));
    expect(fresh.list().map((u) => `${u.username}:${u.role}`)).toEqual(["admin:admin", "carol:operator", "d1:viewer", "d2:viewer"]);
  });

  it("a malformed file is an error naming it, not a silent reset", async () => {
    const file = path.join(dir, "users.json");
    await writeFile(file, '{"users":[{"username":"x","role":"god","password_hash":"p"}]}');
    const users = new UserStore(file, { scrypt: TEST_SCRYPT });
    await expect(users.init(path.join(dir, "pw"))).rejects.toThrow(/users\.json.*malformed/);
  });
});
