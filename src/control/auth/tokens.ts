import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload, type ProtectedHeaderParameters } from "jose";
import { AuthError } from "./authenticator.js";
import { authErrorOf } from "./jwt-errors.js";
import { grants, isGrant } from "./permissions.js";
import type { Principal } from "./principal.js";
import type { Keyring } from "./signing-keys.js";

export const ACCESS_AUDIENCE = "ifc-api";
export const VIEW_AUDIENCE = "ifc-view";

/** The caller has neither `stream:view` nor `recording:view` on the stream asked for (→ 403 at the edge). */
export class NoViewGrant extends Error {
  override name = "NoViewGrant";
  readonly slug = "no-view-grant";
  constructor(readonly stream: string) {
    super(`neither stream:view nor recording:view is granted on stream "${stream}"`);
  }
}

export interface AccessClaims {
  sub: string;
  jti: string;
  role: string;
  permissions: string[];
  /** Expiry, ms since the epoch. */
  expMs: number;
}

export interface ViewClaims {
  sub: string;
  jti: string;
  stream: string;
  permissions: string[];
  /** The kind of principal the token was issued to (`user`: checked against the users file). */
  src: Principal["kind"];
  expMs: number;
}

export interface TokenIssuerOptions {
  issuer: string;
  accessTtlMs: number;
  viewTtlMs: number;
  now?: () => number;
}

/** The header of a compact JWS, or a `malformed` refusal. */
export function jwtHeader(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new AuthError("malformed", "token is not a JWT");
  }
}

/**
 * Signs and verifies this server's JWTs, RS256 only, with the keyring's keys: access tokens
 * (aud `ifc-api`) and view tokens for players (aud `ifc-view`). The algorithm is checked
 * before anything else, so `alg: none` and an HS256 token keyed with our public key PEM are
 * refused as `bad-algorithm` and never reach a verifier.
 */
export class TokenIssuer {
  private readonly now: () => number;
  /**
   * Access tokens already verified, by their exact text, until their exp: an RSA verification
   * costs a few hundred µs, and a client sends the same token with every request. Keyed by the
   * whole token, so a forged variant is never a hit; revocation and disabled users are checked
   * by the caller on every request all the same.
   */
  private readonly verified = new Map<string, AccessClaims>();
  private static readonly MAX_CACHED = 10_000;

  constructor(private readonly keyring: Keyring, private readonly opts: TokenIssuerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get accessTtlMs(): number {
    return this.opts.accessTtlMs;
  }
  get viewTtlMs(): number {
    return this.opts.viewTtlMs;
  }

  async signAccess(sub: string, role: string, permissions: readonly string[]): Promise<{ token: string; claims: AccessClaims }> {
    const jti = randomUUID();
    const { token, expMs } = await this.sign({ role, permissions: [...permissions] }, sub, jti, ACCESS_AUDIENCE, this.opts.accessTtlMs);
    return { token, claims: { sub, jti, role, permissions: [...permissions], expMs } };
  }

  /** Narrows the principal's view grants to `stream` (`stream:view:<stream>`, `recording:view:<stream>`). */
  async signView(principal: Principal, stream: string): Promise<{ token: string; claims: ViewClaims }> {
    const narrowed = (["stream:view", "recording:view"] as const).filter((p) => grants(principal.permissions, p, stream)).map((p) => `${p}:${stream}`);
    if (narrowed.length === 0) throw new NoViewGrant(stream);
    const jti = randomUUID();
    const { token, expMs } = await this.sign({ permissions: narrowed, stream, src: principal.kind }, principal.subject, jti, VIEW_AUDIENCE, this.opts.viewTtlMs);
    return { token, claims: { sub: principal.subject, jti, stream, permissions: narrowed, src: principal.kind, expMs } };
  }

  async verifyAccess(token: string): Promise<AccessClaims> {
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expMs > this.now()) return hit;
      this.verified.delete(token);
    }
    const p = await this.verify(token, ACCESS_AUDIENCE, "access token");
    if (typeof p.role !== "string") throw new AuthError("bad-claims", "access token has no role");
    const claims: AccessClaims = { sub: p.sub!, jti: p.jti!, role: p.role, permissions: permissionsOf(p), expMs: p.exp! * 1000 };
    if (this.verified.size >= TokenIssuer.MAX_CACHED) this.verified.delete(this.verified.keys().next().value!); // oldest first
    this.verified.set(token, claims);
    return claims;
  }

  async verifyView(token: string): Promise<ViewClaims> {
    const p = await this.verify(token, VIEW_AUDIENCE, "view token");
    if (typeof p.stream !== "string" || typeof p.src !== "string") throw new AuthError("bad-claims", "view token has no stream");
    return { sub: p.sub!, jti: p.jti!, stream: p.stream, permissions: permissionsOf(p), src: p.src as Principal["kind"], expMs: p.exp! * 1000 };
  }

  /** Whether the token claims to be signed by one of our keys (else it may be an external IdP's). */
  isOurs(header: ProtectedHeaderParameters): boolean {
    return typeof header.kid === "string" && this.keyring.has(header.kid);
  }

  private async sign(claims: JWTPayload, sub: string, jti: string, aud: string, ttlMs: number): Promise<{ token: string; expMs: number }> {
    const { kid, key } = await this.keyring.freshSigningKey();
    const nowS = Math.floor(this.now() / 1000);
    const expS = nowS + Math.ceil(ttlMs / 1000);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
      .setIssuer(this.opts.issuer)
      .setAudience(aud)
      .setSubject(sub)
      .setJti(jti)
      .setIssuedAt(nowS)
      .setExpirationTime(expS)
      .sign(key);
    return { token, expMs: expS * 1000 };
  }

  private async verify(token: string, audience: string, what: string): Promise<JWTPayload> {
    const header = jwtHeader(token);
    if (header.alg !== "RS256") throw new AuthError("bad-algorithm", `${what} alg "${String(header.alg).slice(0, 16)}" is not RS256`);
    if (typeof header.kid !== "string") throw new AuthError("unknown-key", `${what} names no key (kid)`);
    let key = this.keyring.publicKey(header.kid);
    // A key rotated by the CLI in another process: reread the directory once before refusing.
    if (!key && (await this.keyring.reloadIfChanged().catch(() => false))) key = this.keyring.publicKey(header.kid);
    if (!key) throw new AuthError("unknown-key", `${what} was signed by an unknown key`);
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ["RS256"],
        issuer: this.opts.issuer,
        audience,
        currentDate: new Date(this.now()),
        requiredClaims: ["sub", "jti", "exp", "iat"],
      });
      return payload;
    } catch (err) {
      throw authErrorOf(err, what);
    }
  }
}

function permissionsOf(p: JWTPayload): string[] {
  const perms = p.permissions;
  if (!Array.isArray(perms) || !perms.every((g): g is string => typeof g === "string" && isGrant(g))) {
    throw new AuthError("bad-claims", "token permissions are malformed");
  }
  return perms;
}
