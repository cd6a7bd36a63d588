import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { generateKeyPair, SignJWT, UnsecuredJWT, decodeJwt } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Keyring } from "../../../../src/control/auth/signing-keys.js";
import { NoViewGrant } from "../../../../src/control/auth/tokens.js";
import { authFixture, type AuthFixture, authFailureReason as reason } from "../../../support/auth-fixture.js";

describe("access and view tokens", () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ accessTtlMs: 3_600_000, viewTtlMs: 600_000 });
    await f.users.add("vera", "viewer", "vera-password");
    await f.users.add("otto", "operator", "otto-password", ["system:admin"]);
  });
  afterEach(() => f.cleanup());

  const claimsFor = (sub: string) => ({ role: "admin", permissions: ["*"], sub, jti: "x" });

  it("a login's access token is RS256 with iss, aud, sub, jti, iat, exp, role and permissions, and verifies to the user", async () => {
    const pair = await f.auth.login("otto", "otto-password", "10.0.0.1");
    expect(pair.token_type).toBe("Bearer");
    expect(pair.expires_in).toBe(3600);
    const [h] = pair.access_token.split(".");
    expect(JSON.parse(Buffer.from(h!, "base64url").toString())).toEqual({ alg: "RS256", typ: "JWT", kid: f.keyring.signingKey().kid });
    const c = decodeJwt(pair.access_token);
    expect(c).toMatchObject({ iss: "ifc-test", aud: "ifc-api", sub: "otto", role: "operator" });
    expect(c.exp! - c.iat!).toBe(3600);
    expect(typeof c.jti).toBe("string");
    expect(c.permissions).toContain("system:admin");
    const p = await f.auth.verifyBearer(pair.access_token, "10.0.0.2");
    expect(p).toMatchObject({ kind: "user", subject: "otto", client: "10.0.0.2", credentialId: c.jti });
    expect(p.permissions).toContain("stream:publish");
    // Refresh tokens are opaque, not JWTs.
    expect(pair.refresh_token).toMatch(/^ifcrt_[A-Za-z0-9_-]{43}$/);
  });

  it("expires at exp (injected clock)", async () => {
    const { access_token } = await f.auth.login("vera", "vera-password", "c");
    f.clock.advance(3_600_000 - 1000);
    await f.auth.verifyBearer(access_token, "c");
    f.clock.advance(1000);
    expect(await reason(f.auth.verifyBearer(access_token, "c"))).toBe("expired");
  });

  it("refuses alg none, HS256 keyed with our public key PEM, and any non-RS256 alg", async () => {
    const kid = f.keyring.signingKey().kid;
    const none = new UnsecuredJWT(claimsFor("vera")).setIssuer("ifc-test").setAudience("ifc-api").setIssuedAt().setExpirationTime("1h").encode();
    expect(await reason(f.auth.verifyBearer(none, "c"))).toBe("bad-algorithm");
    const pem = await readFile(path.join(f.dir, "auth", `${kid}.pub.pem`));
    const hs = await new SignJWT(claimsFor("vera")).setProtectedHeader({ alg: "HS256", kid }).setIssuer("ifc-test").setAudience("ifc-api").setIssuedAt().setExpirationTime("1h").sign(pem);
    expect(await reason(f.auth.verifyBearer(hs, "c"))).toBe("bad-algorithm");
    const { privateKey } = await generateKeyPair("PS256");
    const ps = await new SignJWT(claimsFor("vera")).setProtectedHeader({ alg: "PS256", kid }).setIssuer("ifc-test").setAudience("ifc-api").setIssuedAt().setExpirationTime("1h").sign(privateKey);
    expect(await reason(f.auth.verifyBearer(ps, "c"))).toBe("bad-algorithm");
  });

  it("refuses a token signed by another RSA key, with our kid (bad-signature) or an unknown kid (unknown-key)", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const sign = (kid: string) => new SignJWT({ role: "admin", permissions: ["*"] }).setProtectedHeader({ alg: "RS256", kid }).setIssuer("ifc-test").setAudience("ifc-api").setSubject("vera").setJti("j").setIssuedAt(Math.floor(f.clock.t / 1000)).setExpirationTime(Math.floor(f.clock.t / 1000) + 60).sign(privateKey);
    expect(await reason(f.auth.verifyBearer(await sign(f.keyring.signingKey().kid), "c"))).toBe("bad-signature");
    expect(await reason(f.auth.verifyBearer(await sign("not-our-kid-0000000"), "c"))).toBe("unknown-key");
  });

  it("a verified token is remembered, but a tampered copy of it is verified afresh and refused", async () => {
    const { access_token } = await f.auth.login("vera", "vera-password", "c");
    await f.auth.verifyBearer(access_token, "c");
    const [h, p, sig] = access_token.split(".") as [string, string, string];
    const flipped = sig.slice(0, 10) + (sig[10] === "A" ? "B" : "A") + sig.slice(11);
    expect(await reason(f.auth.verifyBearer(`${h}.${p}.${flipped}`, "c"))).toBe("bad-signature");
    const elevated = Buffer.from(JSON.stringify({ ...decodeJwt(access_token), permissions: ["*"] })).toString("base64url");
    expect(await reason(f.auth.verifyBearer(`${h}.${elevated}.${sig}`, "c"))).toBe("bad-signature");
  });

  it("refuses garbage, a view token as an access token and an access token as a view token", async () => {
    expect(await reason(f.auth.verifyBearer("not.a.jwt", "c"))).toBe("malformed");
    expect(await reason(f.auth.verifyBearer("", "c"))).toBe("malformed");
    const { access_token } = await f.auth.login("vera", "vera-password", "c");
    const view = await f.auth.issueViewToken(await f.auth.verifyBearer(access_token, "c"), "cam1");
    expect(await reason(f.auth.verifyBearer(view.token, "c"))).toBe("bad-claims");
    expect(await reason(f.auth.verifyViewToken(access_token, "c"))).toBe("bad-claims");
  });

  it("a disabled or deleted user's tokens stop working at once; a role change applies at once", async () => {
    const { access_token } = await f.auth.login("otto", "otto-password", "c");
    await f.users.setRole("otto", "viewer");
    expect((await f.auth.verifyBearer(access_token, "c")).permissions).not.toContain("stream:publish");
    await f.users.setDisabled("otto", true);
    expect(await reason(f.auth.verifyBearer(access_token, "c"))).toBe("disabled-user");
    const vera = await f.auth.login("vera", "vera-password", "c");
    await f.users.remove("vera");
    expect(await reason(f.auth.verifyBearer(vera.access_token, "c"))).toBe("disabled-user");
    await expect(f.users.remove("admin")).rejects.toMatchObject({ slug: "last-admin" });
  });

  it("logout revokes the presented access token (denylist until its exp) and the refresh family", async () => {
    const pair = await f.auth.login("vera", "vera-password", "c");
    await f.auth.logout(pair.refresh_token, pair.access_token, "c");
    expect(await reason(f.auth.verifyBearer(pair.access_token, "c"))).toBe("revoked");
    expect(await reason(f.auth.refresh(pair.refresh_token, "c"))).toBe("revoked");
    expect(f.audits.map((a) => a.action)).toEqual(["auth.login", "auth.logout"]);
    expect(f.audits[1]).toMatchObject({ who: "vera", from: "c" });
  });

  it("view tokens narrow the caller's grants to one stream", async () => {
    const scoped = { kind: "user" as const, subject: "vera", client: "c", permissions: ["stream:view:line1-*", "recording:view", "recording:control"] };
    const t = await f.auth.issueViewToken(scoped, "line1-a");
    expect(t.expires_in).toBe(600);
    expect(decodeJwt(t.token)).toMatchObject({ aud: "ifc-view", sub: "vera", stream: "line1-a", permissions: ["stream:view:line1-a", "recording:view:line1-a"] });
    const p = await f.auth.verifyViewToken(t.token, "c2");
    expect(p).toMatchObject({ kind: "view-token", subject: "vera", client: "c2", permissions: ["stream:view:line1-a", "recording:view:line1-a"] });
    // Another stream: only recording:view covers it.
    const other = await f.auth.issueViewToken(scoped, "dock");
    expect(decodeJwt(other.token).permissions).toEqual(["recording:view:dock"]);
    await expect(f.auth.issueViewToken({ ...scoped, permissions: ["stream:publish"] }, "cam1")).rejects.toBeInstanceOf(NoViewGrant);
    await expect(f.auth.issueViewToken(p, "line1-a")).rejects.toBeInstanceOf(NoViewGrant);
    f.clock.advance(600_000);
    expect(await reason(f.auth.verifyViewToken(t.token, "c"))).toBe("expired");
  });

  it("a view token of a disabled user stops working", async () => {
    const { access_token } = await f.auth.login("vera", "vera-password", "c");
    const t = await f.auth.issueViewToken(await f.auth.verifyBearer(access_token, "c"), "cam1");
    await f.users.setDisabled("vera", true);
    expect(await reason(f.auth.verifyViewToken(t.token, "c"))).toBe("disabled-user");
  });
});

describe("signing keys", () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ accessTtlMs: 3_600_000, viewTtlMs: 600_000 });
    await f.users.add("vera", "viewer", "vera-password");
  });
  afterEach(() => f.cleanup());

  it("are PEM files (private 0600) and a JWKS of RS256 public keys with kids", async () => {
    const kid = f.keyring.signingKey().kid;
    const dir = path.join(f.dir, "auth");
    expect((await readdir(dir)).sort()).toEqual(expect.arrayContaining([`${kid}.key.pem`, `${kid}.pub.pem`, "keyring.json"]));
    expect((await stat(path.join(dir, `${kid}.key.pem`))).mode & 0o777).toBe(0o600);
    expect(await readFile(path.join(dir, `${kid}.key.pem`), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const jwks = f.keyring.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", kid, alg: "RS256", use: "sig", e: "AQAB" });
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]); // no private members
  });

  it("survive a restart (same kid), and rotation keeps old tokens valid until they expire, then prunes the old key", async () => {
    const before = await f.auth.login("vera", "vera-password", "c");
    const oldKid = f.keyring.signingKey().kid;
    const reopened = new Keyring(path.join(f.dir, "auth"), { maxTokenTtlMs: 3_600_000, now: f.clock.now });
    await reopened.init();
    expect(reopened.signingKey().kid).toBe(oldKid);

    const newKid = await f.keyring.rotate();
    expect(newKid).not.toBe(oldKid);
    expect(f.keyring.signingKey().kid).toBe(newKid);
    expect(f.keyring.jwks().keys.map((k) => k.kid).sort()).toEqual([newKid, oldKid].sort());
    const files = await readdir(path.join(f.dir, "auth"));
    expect(files).not.toContain(`${oldKid}.key.pem`); // the old private key is gone at once
    expect(files).toContain(`${oldKid}.pub.pem`);
    // The old token still verifies; new tokens carry the new kid.
    expect((await f.auth.verifyBearer(before.access_token, "c")).subject).toBe("vera");
    const after = await f.auth.login("vera", "vera-password", "c");
    expect(JSON.parse(Buffer.from(after.access_token.split(".")[0]!, "base64url").toString()).kid).toBe(newKid);

    // Once every token the old key can have signed has expired, the next rotation prunes it.
    f.clock.advance(3_600_000);
    await f.keyring.rotate();
    expect(f.keyring.kids()).not.toContain(oldKid);
    expect(await readdir(path.join(f.dir, "auth"))).not.toContain(`${oldKid}.pub.pem`);
  });

  it("a key rotated by another process (the CLI) signs the running server's next tokens within the recheck interval", async () => {
    const oldKid = f.keyring.signingKey().kid;
    const before = await f.auth.login("vera", "vera-password", "c");
    const cli = new Keyring(path.join(f.dir, "auth"), { maxTokenTtlMs: 3_600_000, now: f.clock.now });
    await cli.init();
    const newKid = await cli.rotate();
    f.clock.advance(5000);
    const after = await f.auth.login("vera", "vera-password", "c");
    expect(JSON.parse(Buffer.from(after.access_token.split(".")[0]!, "base64url").toString()).kid).toBe(newKid);
    // Tokens of the old key still verify (its public key is kept).
    expect((await f.auth.verifyBearer(before.access_token, "c")).subject).toBe("vera");
    expect(f.keyring.kids().sort()).toEqual([oldKid, newKid].sort());
  });

  it("a key rotated by another process (the CLI) is picked up on reload", async () => {
    const cli = new Keyring(path.join(f.dir, "auth"), { maxTokenTtlMs: 3_600_000, now: f.clock.now });
    await cli.init();
    const kid = await cli.rotate();
    await f.keyring.reload();
    expect(f.keyring.signingKey().kid).toBe(kid);
  });
});
