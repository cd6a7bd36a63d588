import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuthError } from "../../../../src/control/auth/authenticator.js";
import { FileSessionStore } from "../../../../src/control/auth/session-store.js";
import { authFixture, type AuthFixture, authFailureReason as reason } from "../../../support/auth-fixture.js";

describe("refresh tokens", () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ refreshTtlMs: 86_400_000 });
    await f.users.add("vera", "viewer", "vera-password");
  });
  afterEach(() => f.cleanup());

  it("rotate on every use: the new pair works, the old refresh token is spent", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    const b = await f.auth.refresh(a.refresh_token, "c");
    expect(b.refresh_token).not.toBe(a.refresh_token);
    expect(b.access_token).not.toBe(a.access_token);
    expect((await f.auth.verifyBearer(b.access_token, "c")).subject).toBe("vera");
    const c = await f.auth.refresh(b.refresh_token, "c");
    expect(c.token_type).toBe("Bearer");
  });

  it("reuse of a spent token revokes the whole family, audits it, and leaves other sessions alone", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    const other = await f.auth.login("vera", "vera-password", "c2");
    const b = await f.auth.refresh(a.refresh_token, "c");
    expect(await reason(f.auth.refresh(a.refresh_token, "evil"))).toBe("revoked");
    // The thief's replay killed the legitimate holder's newer token too.
    expect(await reason(f.auth.refresh(b.refresh_token, "c"))).toBe("revoked");
    expect(f.audits.find((e) => e.action === "auth.refresh_reuse")).toMatchObject({ who: "vera", from: "evil" });
    // Another login's family is untouched.
    await f.auth.refresh(other.refresh_token, "c2");
  });

  it("two concurrent refreshes of one token: exactly one wins, the other is treated as reuse", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    const results = await Promise.allSettled([f.auth.refresh(a.refresh_token, "c"), f.auth.refresh(a.refresh_token, "c")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("expire after the refresh TTL (injected clock)", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    f.clock.advance(86_400_000);
    expect(await reason(f.auth.refresh(a.refresh_token, "c"))).toBe("expired");
  });

  it("refuse malformed and unknown tokens, and a disabled user's", async () => {
    expect(await reason(f.auth.refresh("garbage", "c"))).toBe("malformed");
    expect(await reason(f.auth.refresh("ifcrt_" + "A".repeat(43), "c"))).toBe("bad-credentials");
    const a = await f.auth.login("vera", "vera-password", "c");
    await f.users.setDisabled("vera", true);
    expect(await reason(f.auth.refresh(a.refresh_token, "c"))).toBe("disabled-user");
  });

  it("revokeUserSessions ends every family of the user", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    await f.auth.revokeUserSessions("vera");
    expect(await reason(f.auth.refresh(a.refresh_token, "c"))).toBe("revoked");
  });

  it("a burst of concurrent refreshes is all on file afterwards (coalesced writes lose nothing)", async () => {
    const logins = [];
    for (let i = 0; i < 10; i++) logins.push(await f.auth.login("vera", "vera-password", "c"));
    const pairs = await Promise.all(logins.map((l) => f.auth.refresh(l.refresh_token, "c")));
    const reopened = new FileSessionStore(path.join(f.dir, "auth", "sessions.json"), f.clock.now);
    await reopened.load();
    for (const p of pairs) expect(await reopened.get(createHash("sha256").update(p.refresh_token).digest("hex"))).toBeDefined();
  });

  it("sessions and the denylist survive a restart (the JSON file in the auth dir)", async () => {
    const a = await f.auth.login("vera", "vera-password", "c");
    const b = await f.auth.login("vera", "vera-password", "c");
    await f.auth.logout(undefined, b.access_token, "c");
    const reopened = new FileSessionStore(path.join(f.dir, "auth", "sessions.json"), f.clock.now);
    await reopened.load();
    expect(await reopened.isDenied(JSON.parse(Buffer.from(b.access_token.split(".")[1]!, "base64url").toString()).jti)).toBe(true);
    const records = await Promise.all([a, b].map(async (p) => reopened.get(createHash("sha256").update(p.refresh_token).digest("hex"))));
    expect(records.every((r) => r?.username === "vera" && !r.spent)).toBe(true);
    // The file never holds a token itself.
    const text = await readFile(path.join(f.dir, "auth", "sessions.json"), "utf8");
    expect(text).not.toContain(a.refresh_token);
    expect(text).not.toContain(b.access_token);
  });
});

describe("login limits", () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ limits: { maxFailuresPerUser: 3, maxAttemptsPerClient: 6, windowMs: 60_000 } });
    await f.users.add("vera", "viewer", "vera-password");
  });
  afterEach(() => f.cleanup());

  it("wrong user and wrong password give the same error; both are audited without the password", async () => {
    const e1 = await f.auth.login("vera", "wrong-password", "c").catch((e: unknown) => e);
    const e2 = await f.auth.login("nobody", "wrong-password", "c").catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(AuthError);
    expect(e2).toBeInstanceOf(AuthError);
    expect([(e1 as AuthError).reason, (e1 as AuthError).message]).toEqual([(e2 as AuthError).reason, (e2 as AuthError).message]);
    expect(f.audits.map((a) => `${a.action}:${a.who}`)).toEqual(["auth.login_failed:vera", "auth.login_failed:nobody"]);
    expect(JSON.stringify(f.audits)).not.toContain("wrong-password");
  });

  it("a disabled user cannot log in, with the same answer", async () => {
    await f.users.setDisabled("vera", true);
    const err = (await f.auth.login("vera", "vera-password", "c").catch((e: unknown) => e)) as AuthError;
    expect([err.reason, err.message]).toEqual(["bad-credentials", "invalid user name or password"]);
  });

  it("per user: the limit-th failure is still checked, the next attempt is refused even with the right password, until the window passes", async () => {
    for (let i = 0; i < 3; i++) expect(await reason(f.auth.login("vera", "bad", `c${i}`))).toBe("bad-credentials");
    const limited = (await f.auth.login("vera", "vera-password", "c9").catch((e: unknown) => e)) as AuthError;
    expect(limited.reason).toBe("rate-limited");
    expect(limited.retryAfterMs).toBe(60_000);
    // Case variants of the name share the counter.
    expect(await reason(f.auth.login("VERA", "vera-password", "c9"))).toBe("rate-limited");
    f.clock.advance(59_999);
    expect(await reason(f.auth.login("vera", "vera-password", "c9"))).toBe("rate-limited");
    f.clock.advance(1);
    await f.auth.login("vera", "vera-password", "c9");
  });

  it("per user: parallel guesses are counted before any is checked (no burst past the limit)", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => reason(f.auth.login("vera", `bad-${i}`, `10.0.0.${i}`))));
    expect(results.filter((r) => r === "bad-credentials")).toHaveLength(3);
    expect(results.filter((r) => r === "rate-limited")).toHaveLength(3);
  });

  it("per user: a success resets the failures", async () => {
    for (let i = 0; i < 2; i++) await reason(f.auth.login("vera", "bad", "c"));
    await f.auth.login("vera", "vera-password", "c");
    for (let i = 0; i < 3; i++) expect(await reason(f.auth.login("vera", "bad", "c"))).toBe("bad-credentials");
    expect(await reason(f.auth.login("vera", "bad", "c"))).toBe("rate-limited");
  });

  it("per client: attempts (good or bad, any user) are counted; the limit-th passes, the next is refused", async () => {
    await f.users.add("walt", "viewer", "walt-password");
    for (let i = 0; i < 3; i++) await f.auth.login("walt", "walt-password", "1.2.3.4");
    for (let i = 0; i < 2; i++) await reason(f.auth.login(`u${i}`, "bad", "1.2.3.4"));
    await f.auth.login("vera", "vera-password", "1.2.3.4"); // 6th
    const err = (await f.auth.login("vera", "vera-password", "1.2.3.4").catch((e: unknown) => e)) as AuthError;
    expect(err.reason).toBe("rate-limited");
    expect(err.retryAfterMs).toBeGreaterThan(0);
    // Another client is not affected.
    await f.auth.login("vera", "vera-password", "5.6.7.8");
    expect(f.audits.filter((a) => a.details?.reason === "rate-limited")).toHaveLength(1);
    f.clock.advance(60_000);
    await f.auth.login("vera", "vera-password", "1.2.3.4");
  });
});
