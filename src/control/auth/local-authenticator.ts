import { createHash, randomBytes, randomUUID } from "node:crypto";
import { assertStreamName } from "../../core/stream-name.js";
import type { RateLimitStore } from "../../ports/rate-limit-store.js";
import { AuthError, type Authenticator, type TokenPair } from "./authenticator.js";
import type { ExternalJwks } from "./external-jwks.js";
import { DummyHash, verifyPassword, type ScryptParams } from "./password.js";
import { deviceIdOf, devicePermissions, isDeviceSubject } from "./device-principal.js";
import type { AuditEntry, AuditSink, Principal } from "./principal.js";
import { isPublishKey, type PublishKeys } from "./publish-keys.js";
import type { SessionStore } from "./session-store.js";
import { jwtHeader, NoViewGrant, type TokenIssuer } from "./tokens.js";
import { userPermissions, type UserRecord, type UserStore } from "./user-store.js";

export interface LoginLimits {
  /** Failed logins per user name per window (reset by a success). */
  maxFailuresPerUser: number;
  /** Login attempts (failed or not) per client address per window. */
  maxAttemptsPerClient: number;
  windowMs: number;
}

export interface LocalAuthenticatorDeps {
  users: UserStore;
  tokens: TokenIssuer;
  sessions: SessionStore;
  publishKeys: PublishKeys;
  /** Tokens of an external identity provider (IFC_AUTH_JWKS_URL), when configured. */
  external?: ExternalJwks | undefined;
  rateLimits: RateLimitStore;
  audit: AuditSink;
  limits: LoginLimits;
  refreshTtlMs: number;
  now?: () => number;
  /** scrypt cost of the dummy hash burnt for unknown users: the same as real hashes' (tests lower both). */
  scrypt?: ScryptParams;
}

export const REFRESH_PREFIX = "ifcrt_";
const REFRESH_FORMAT = /^ifcrt_[A-Za-z0-9_-]{43}$/;
const BAD_LOGIN = "invalid user name or password";

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");
/** Rate-limit keys by user name: case-folded and bounded, so variants of one name share a counter. */
const userKey = (username: string): string => `login:user:${username.toLowerCase().slice(0, 64)}`;
const clientKey = (client: string): string => `login:client:${client}`;

/**
 * The one Authenticator: local users (scrypt passwords, RS256 access tokens, rotating refresh
 * tokens), stream publish keys, view tokens for players, and optionally an external IdP's
 * tokens. A token's permissions are read from the user's current record, so a role change or
 * a disabled account takes effect at the next request, not when the token expires.
 */
export class LocalAuthenticator implements Authenticator {
  private readonly now: () => number;
  private readonly dummy: DummyHash;
  /** Whether a device may still act (not revoked); set by the offline-devices module when it exists. */
  private deviceActive: ((deviceId: string) => Promise<boolean>) | undefined;

  constructor(private readonly d: LocalAuthenticatorDeps) {
    this.now = d.now ?? Date.now;
    this.dummy = new DummyHash(d.scrypt);
  }

  /**
   * Device tokens are checked against the device list on every request, so revoking a device
   * stops its token on every route at once, not when the token expires.
   */
  useDeviceCheck(active: (deviceId: string) => Promise<boolean>): void {
    this.deviceActive = active;
  }

  async verifyBearer(token: string, client: string): Promise<Principal> {
    if (isPublishKey(token)) return this.d.publishKeys.verify(token, client);
    const header = jwtHeader(token);
    if (this.d.external && !this.d.tokens.isOurs(header)) return this.d.external.verify(token, client);
    const claims = await this.d.tokens.verifyAccess(token);
    if (await this.d.sessions.isDenied(claims.jti)) throw new AuthError("revoked", "access token was revoked (logout)");
    // A device has no user record: its grants are the token's, never more than a device may hold.
    if (isDeviceSubject(claims.sub)) {
      const deviceId = deviceIdOf(claims.sub)!;
      if (!this.deviceActive || !(await this.deviceActive(deviceId))) throw new AuthError("revoked", `device ${deviceId} is revoked or unknown`);
      return { kind: "device", subject: claims.sub, permissions: devicePermissions(claims.permissions), client, credentialId: claims.jti };
    }
    const user = await this.activeUser(claims.sub);
    return { kind: "user", subject: user.username, permissions: userPermissions(user), client, credentialId: claims.jti };
  }

  async verifyViewToken(token: string, client: string): Promise<Principal> {
    const claims = await this.d.tokens.verifyView(token);
    if (claims.src === "user") await this.activeUser(claims.sub);
    return { kind: "view-token", subject: claims.sub, permissions: claims.permissions, client, credentialId: claims.jti };
  }

  async login(username: string, password: string, client: string): Promise<TokenPair> {
    const user = await this.checkPassword(username, password, client);
    const pair = await this.issuePair(user, randomUUID());
    this.audit({ action: "auth.login", who: user.username, from: client });
    return pair;
  }

  /**
   * A user's password as a credential by itself (RTSP Basic auth: the camera sends it with its
   * requests), with login's checks and rate limits; no tokens are issued, nothing is audited on
   * success (a publisher reconnecting every few seconds would flood the trail).
   */
  async verifyUserPassword(username: string, password: string, client: string): Promise<Principal> {
    const user = await this.checkPassword(username, password, client);
    return { kind: "user", subject: user.username, permissions: userPermissions(user), client };
  }

  private async checkPassword(username: string, password: string, client: string): Promise<UserRecord> {
    const { limits, rateLimits } = this.d;
    const perClient = await rateLimits.consume(clientKey(client), limits.maxAttemptsPerClient, limits.windowMs);
    if (!perClient.allowed) return this.refuseLogin(username, client, "client", perClient.retryAfterMs);
    // Every attempt counts as a failure up front and a success clears the count: parallel
    // guesses cannot all slip past a check made before any of them failed.
    const uk = userKey(username);
    const perUser = await rateLimits.consume(uk, limits.maxFailuresPerUser, limits.windowMs);
    if (!perUser.allowed) return this.refuseLogin(username, client, "user", perUser.retryAfterMs);
    const user = await this.d.users.get(username);
    // Unknown users cost one hash too, and a disabled user's password is checked all the same:
    // neither the answer nor its timing tells which names exist.
    const ok = user ? await verifyPassword(password, user.password_hash) : await this.dummy.burn(password);
    if (!ok || !user || user.disabled) {
      this.audit({ action: "auth.login_failed", who: username.slice(0, 64), from: client, details: { reason: !user ? "unknown-user" : user.disabled && ok ? "disabled-user" : "bad-password" } });
      throw new AuthError("bad-credentials", BAD_LOGIN);
    }
    await rateLimits.reset(uk);
    return user;
  }

  async refresh(refreshToken: string, client: string): Promise<TokenPair> {
    if (!REFRESH_FORMAT.test(refreshToken)) throw new AuthError("malformed", "refresh token is malformed");
    const hash = sha256(refreshToken);
    const rec = await this.d.sessions.get(hash);
    if (!rec) throw new AuthError("bad-credentials", "refresh token is not valid");
    if (rec.revoked) throw new AuthError("revoked", "refresh token was revoked");
    if (rec.expiresAtMs <= this.now()) throw new AuthError("expired", "refresh token expired");
    if (!(await this.d.sessions.spend(hash))) {
      // A spent token presented again: it was stolen, or its thief already used it. Either way
      // the whole family (every token rotated from the same login) stops working.
      await this.d.sessions.revokeFamily(rec.family);
      this.audit({ action: "auth.refresh_reuse", who: rec.username, from: client, details: { family: rec.family } });
      throw new AuthError("revoked", "refresh token was already used; its session is revoked");
    }
    const user = await this.d.users.get(rec.username);
    if (!user || user.disabled) {
      await this.d.sessions.revokeFamily(rec.family);
      throw new AuthError("disabled-user", "the user is disabled or deleted");
    }
    return this.issuePair(user, rec.family);
  }

  async logout(refreshToken: string | undefined, accessToken: string | undefined, client: string): Promise<void> {
    let who: string | undefined;
    if (refreshToken && REFRESH_FORMAT.test(refreshToken)) {
      const rec = await this.d.sessions.get(sha256(refreshToken));
      if (rec) {
        await this.d.sessions.revokeFamily(rec.family);
        who = rec.username;
      }
    }
    if (accessToken) {
      // Only a valid token of ours is worth denying; anything else is already refused.
      const claims = await this.d.tokens.verifyAccess(accessToken).catch(() => undefined);
      if (claims) {
        await this.d.sessions.deny(claims.jti, claims.expMs);
        who ??= claims.sub;
      }
    }
    if (who !== undefined) this.audit({ action: "auth.logout", who, from: client });
  }

  async issueViewToken(principal: Principal, stream: string): Promise<{ token: string; expires_in: number }> {
    assertStreamName(stream);
    // A view token minting another would extend itself forever.
    if (principal.kind === "view-token") throw new NoViewGrant(stream);
    const { token } = await this.d.tokens.signView(principal, stream);
    return { token, expires_in: Math.ceil(this.d.tokens.viewTtlMs / 1000) };
  }

  /** Ends every refresh session of `username` (account disabled, password changed). */
  async revokeUserSessions(username: string): Promise<void> {
    await this.d.sessions.revokeUser(username);
  }

  private async activeUser(username: string): Promise<UserRecord> {
    const user = await this.d.users.get(username);
    if (!user || user.disabled) throw new AuthError("disabled-user", "the user is disabled or deleted");
    return user;
  }

  private async issuePair(user: UserRecord, family: string): Promise<TokenPair> {
    const { token } = await this.d.tokens.signAccess(user.username, user.role, userPermissions(user));
    const refresh = REFRESH_PREFIX + randomBytes(32).toString("base64url");
    await this.d.sessions.put({ hash: sha256(refresh), family, username: user.username, expiresAtMs: this.now() + this.d.refreshTtlMs, spent: false, revoked: false });
    return { access_token: token, refresh_token: refresh, token_type: "Bearer", expires_in: Math.ceil(this.d.tokens.accessTtlMs / 1000) };
  }

  private refuseLogin(username: string, client: string, by: "user" | "client", retryAfterMs: number): never {
    this.audit({ action: "auth.login_failed", who: username.slice(0, 64), from: client, details: { reason: "rate-limited", by } });
    throw new AuthError("rate-limited", "too many login attempts; try again later", Math.max(1, retryAfterMs));
  }

  private audit(e: Omit<AuditEntry, "via">): void {
    try {
      this.d.audit.record({ ...e, via: "auth" });
    } catch {
      // The audit trail must never turn a login into a 500.
    }
  }
}
