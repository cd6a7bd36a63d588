import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { grants } from "../../../../src/control/auth/permissions.js";
import { PublishKeys } from "../../../../src/control/auth/publish-keys.js";
import { InvalidInput, NotFound } from "../../../../src/core/errors.js";
import { authFixture, type AuthFixture, authFailureReason as reason } from "../../../support/auth-fixture.js";

describe("publish keys", () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture();
  });
  afterEach(() => f.cleanup());

  it("are shown once, stored hashed (0600), and verify as stream:publish on their stream only", async () => {
    const k = await f.publishKeys.create("cam1", { label: "OBS", createdBy: "admin" });
    expect(k.key).toMatch(/^ifcpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(k).toMatchObject({ stream: "cam1", label: "OBS", expires_at: null, created_by: "admin" });
    const file = path.join(f.dir, "auth", "publish-keys.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const secret = k.key.split("_").slice(2).join("_");
    expect(await readFile(file, "utf8")).not.toContain(secret);
    const p = await f.auth.verifyBearer(k.key, "10.1.1.1");
    expect(p).toEqual({ kind: "publish-key", subject: `key:${k.id}`, permissions: ["stream:publish:cam1"], client: "10.1.1.1", credentialId: k.id });
    expect(grants(p.permissions, "stream:publish", "cam1")).toBe(true);
    expect(grants(p.permissions, "stream:publish", "cam2")).toBe(false);
    expect(grants(p.permissions, "stream:view", "cam1")).toBe(false);
  });

  it("list without secrets, revoke, and survive a restart", async () => {
    const a = await f.publishKeys.create("cam1", { createdBy: "admin" });
    const b = await f.publishKeys.create("cam1", { label: "b", createdBy: "admin" });
    await f.publishKeys.create("cam2", { createdBy: "admin" });
    const list = f.publishKeys.list("cam1");
    expect(list.map((k) => k.id)).toEqual([a.id, b.id]);
    expect(JSON.stringify(list)).not.toMatch(/ifcpk_|secret/);
    await f.publishKeys.revoke("cam1", a.id);
    expect(f.publishKeys.list("cam1").map((k) => k.id)).toEqual([b.id]);
    expect(await reason(f.auth.verifyBearer(a.key, "c"))).toBe("revoked");
    await expect(f.publishKeys.revoke("cam1", a.id)).rejects.toBeInstanceOf(NotFound);
    await expect(f.publishKeys.revoke("cam2", b.id)).rejects.toBeInstanceOf(NotFound); // another stream's key
    const reopened = new PublishKeys(path.join(f.dir, "auth", "publish-keys.json"), f.clock.now);
    await reopened.load();
    expect(reopened.list("cam1").map((k) => k.id)).toEqual([b.id]);
    expect(reopened.verify(b.key, "c").subject).toBe(`key:${b.id}`);
  });

  it("expire at expires_at (injected clock)", async () => {
    const at = new Date(f.clock.t + 60_000).toISOString();
    const k = await f.publishKeys.create("cam1", { expiresAt: at, createdBy: "admin" });
    expect(k.expires_at).toBe(at);
    await f.auth.verifyBearer(k.key, "c");
    f.clock.advance(60_000);
    expect(await reason(f.auth.verifyBearer(k.key, "c"))).toBe("expired");
    expect(f.publishKeys.list("cam1")).toEqual([]);
  });

  it("refuse a past or malformed expiry and a bad stream name", async () => {
    await expect(f.publishKeys.create("cam1", { expiresAt: new Date(f.clock.t).toISOString(), createdBy: "a" })).rejects.toBeInstanceOf(InvalidInput);
    await expect(f.publishKeys.create("cam1", { expiresAt: "tomorrow", createdBy: "a" })).rejects.toBeInstanceOf(InvalidInput);
    await expect(f.publishKeys.create("../x", { createdBy: "a" })).rejects.toBeInstanceOf(InvalidInput);
  });

  it("refuse a tampered secret, an unknown id and a malformed key", async () => {
    const k = await f.publishKeys.create("cam1", { createdBy: "a" });
    const last = k.key.at(-1) === "A" ? "B" : "A";
    expect(await reason(f.auth.verifyBearer(k.key.slice(0, -1) + last, "c"))).toBe("bad-credentials");
    expect(await reason(f.auth.verifyBearer(k.key.replace(k.id, "0123456789abcdef"), "c"))).toBe("bad-credentials");
    expect(await reason(f.auth.verifyBearer("ifcpk_short", "c"))).toBe("malformed");
  });
});
