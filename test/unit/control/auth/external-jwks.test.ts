import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROLE_PERMISSIONS } from "../../../../src/control/auth/permissions.js";
import { authFixture, type AuthFixture, authFailureReason as reason } from "../../../support/auth-fixture.js";

type SignKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

describe("external identity provider (JWKS URL)", () => {
  let idp: Server;
  let jwksUrl: string;
  let rsa: SignKey;
  let ec: SignKey;
  let f: AuthFixture;
  let fetches = 0;

  beforeAll(async () => {
    const r = await generateKeyPair("RS256", { extractable: true });
    const e = await generateKeyPair("ES256", { extractable: true });
    rsa = r.privateKey;
    ec = e.privateKey;
    const keys: JWK[] = [
      { ...(await exportJWK(r.publicKey)), kid: "idp-rsa", alg: "RS256", use: "sig" },
      { ...(await exportJWK(e.publicKey)), kid: "idp-ec", alg: "ES256", use: "sig" },
    ];
    idp = createServer((req, res) => {
      fetches++;
      if (req.url !== "/jwks") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((ok) => idp.listen(0, "127.0.0.1", ok));
    jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;
    f = await authFixture({ jwksUrl, jwksIssuer: "https://idp.example", jwksAudience: "ifc" });
    await f.users.add("vera", "viewer", "vera-password");
  });
  afterAll(async () => {
    await f.cleanup();
    await new Promise<void>((ok) => idp.close(() => ok()));
  });

  const nowS = (): number => Math.floor(f.clock.t / 1000);
  function idpToken(claims: JWTPayload, opts: { alg?: string; kid?: string; key?: SignKey | Uint8Array; iss?: string; aud?: string; exp?: number } = {}): Promise<string> {
    const alg = opts.alg ?? "RS256";
    return new SignJWT(claims)
      .setProtectedHeader({ alg, kid: opts.kid ?? (alg === "ES256" ? "idp-ec" : "idp-rsa") })
      .setIssuer(opts.iss ?? "https://idp.example")
      .setAudience(opts.aud ?? "ifc")
      .setSubject("ext-user")
      .setIssuedAt(nowS())
      .setExpirationTime(opts.exp ?? nowS() + 300)
      .sign(opts.key ?? (alg === "ES256" ? ec : rsa));
  }

  it("accepts RS256 with a permissions list and ES256 with a space-separated string", async () => {
    const p = await f.auth.verifyBearer(await idpToken({ permissions: ["stream:view:line1-*", "recording:view", "not a grant"] }), "10.0.0.9");
    expect(p).toMatchObject({ kind: "external", subject: "ext-user", client: "10.0.0.9", permissions: ["stream:view:line1-*", "recording:view"] });
    const q = await f.auth.verifyBearer(await idpToken({ permissions: "stream:publish:cam1 system:view" }, { alg: "ES256" }), "c");
    expect(q.permissions).toEqual(["stream:publish:cam1", "system:view"]);
  });

  it("falls back to a role claim naming one of our roles; neither grants nothing", async () => {
    expect((await f.auth.verifyBearer(await idpToken({ role: "operator" }), "c")).permissions).toEqual(ROLE_PERMISSIONS.operator);
    expect((await f.auth.verifyBearer(await idpToken({ role: "superuser" }), "c")).permissions).toEqual([]);
  });

  it("checks issuer, audience and expiry", async () => {
    expect(await reason(f.auth.verifyBearer(await idpToken({ role: "admin" }, { iss: "https://evil.example" }), "c"))).toBe("bad-claims");
    expect(await reason(f.auth.verifyBearer(await idpToken({ role: "admin" }, { aud: "other" }), "c"))).toBe("bad-claims");
    expect(await reason(f.auth.verifyBearer(await idpToken({ role: "admin" }, { exp: nowS() - 1 }), "c"))).toBe("expired");
  });

  it("refuses other algorithms, alg none, keys the IdP does not publish and forged signatures", async () => {
    const hs = await idpToken({ role: "admin" }, { alg: "HS256", key: new TextEncoder().encode("a shared secret of thirty-two bytes!") });
    expect(await reason(f.auth.verifyBearer(hs, "c"))).toBe("bad-algorithm");
    const none = new UnsecuredJWT({ role: "admin" }).setSubject("x").setExpirationTime("1h").encode();
    expect(await reason(f.auth.verifyBearer(none, "c"))).toBe("bad-algorithm");
    const other = (await generateKeyPair("RS256")).privateKey;
    expect(await reason(f.auth.verifyBearer(await idpToken({ role: "admin" }, { kid: "idp-unknown", key: other }), "c"))).toBe("unknown-key");
    expect(await reason(f.auth.verifyBearer(await idpToken({ role: "admin" }, { key: other }), "c"))).toBe("bad-signature");
  });

  it("our own tokens keep working beside the IdP's, without fetching its key set", async () => {
    const before = fetches;
    const { access_token } = await f.auth.login("vera", "vera-password", "c");
    expect((await f.auth.verifyBearer(access_token, "c")).kind).toBe("user");
    expect(fetches).toBe(before);
  });

  it("an unreachable key set refuses (never lets through)", async () => {
    const g = await authFixture({ jwksUrl: "http://127.0.0.1:1/jwks" });
    try {
      expect(await reason(g.auth.verifyBearer(await idpToken({ role: "admin" }), "c"))).toBe("unknown-key");
    } finally {
      await g.cleanup();
    }
  });
});
