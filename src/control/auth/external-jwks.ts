import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { AuthError } from "./authenticator.js";
import { authErrorOf } from "./jwt-errors.js";
import { isGrant, isRole, ROLE_PERMISSIONS } from "./permissions.js";
import type { Principal } from "./principal.js";

export interface ExternalJwksOptions {
  /** The identity provider's JWKS URL (IFC_AUTH_JWKS_URL). */
  url: string;
  /** Required `iss` (empty: not checked). */
  issuer: string;
  /** Required `aud` (empty: not checked). */
  audience: string;
  /** Claim holding permission strings, a list or a space-separated string (IFC_AUTH_PERMISSION_CLAIM). */
  permissionClaim: string;
  now?: () => number;
}

/**
 * Tokens of an external identity provider, checked against its JWKS (fetched and cached by
 * jose, refetched when an unknown kid shows up, at most every 30 s). Only RS256 and ES256 are
 * accepted, named explicitly: the algorithm is never taken from the token alone.
 */
export class ExternalJwks {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly now: () => number;

  constructor(private readonly opts: ExternalJwksOptions) {
    this.jwks = createRemoteJWKSet(new URL(opts.url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    this.now = opts.now ?? Date.now;
  }

  async verify(token: string, client: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        algorithms: ["RS256", "ES256"],
        ...(this.opts.issuer ? { issuer: this.opts.issuer } : {}),
        ...(this.opts.audience ? { audience: this.opts.audience } : {}),
        currentDate: new Date(this.now()),
        requiredClaims: ["sub", "exp"],
      }));
    } catch (err) {
      // Not a JOSE error: the key set could not be fetched (network, HTTP status). Refuse.
      if (!(err instanceof errors.JOSEError)) throw new AuthError("unknown-key", "external token: the identity provider's key set is unavailable");
      throw authErrorOf(err, "external token");
    }
    return {
      kind: "external",
      subject: String(payload.sub).slice(0, 256),
      permissions: this.permissionsOf(payload),
      client,
      ...(typeof payload.jti === "string" ? { credentialId: payload.jti.slice(0, 128) } : {}),
    };
  }

  /** The permission claim (list or space-separated), else a `role` claim naming one of our roles; else nothing (403s). */
  private permissionsOf(p: JWTPayload): string[] {
    const claim = p[this.opts.permissionClaim];
    const list = Array.isArray(claim) ? claim : typeof claim === "string" ? claim.split(/\s+/) : undefined;
    if (list) return list.filter((g): g is string => typeof g === "string" && isGrant(g));
    const role = p.role;
    if (typeof role === "string" && isRole(role)) return [...ROLE_PERMISSIONS[role]];
    return [];
  }
}
