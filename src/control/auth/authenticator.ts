import type { Principal } from "./principal.js";

/** Why credentials were refused: the label of `ifc_auth_failures_total` and of audit entries. */
export type AuthFailureReason =
  | "malformed"
  | "expired"
  | "bad-signature"
  | "bad-algorithm"
  | "bad-claims"
  | "revoked"
  | "unknown-key"
  | "disabled-user"
  | "bad-credentials"
  | "rate-limited";

/** Credentials presented and refused (→ 401, gRPC UNAUTHENTICATED; `rate-limited` → 429 / RESOURCE_EXHAUSTED). */
export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
    /** For `rate-limited`: when to try again. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

/** The OAuth 2.0 token response (RFC 6749 §5.1). */
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  /** Access token lifetime, seconds. */
  expires_in: number;
}

/**
 * Credential checks and token issue, shared by every surface (HTTP gate, WebSocket upgrade,
 * gRPC interceptor, AuthService). Implemented once in control/auth over the users file, the
 * signing keys, the publish keys and the optional external JWKS.
 */
export interface Authenticator {
  /** A Bearer credential (or the pages' cookie): a local access token, an external IdP token or a stream publish key. */
  verifyBearer(token: string, client: string): Promise<Principal>;
  /** A signed view token from `?token=` (players that cannot set headers). */
  verifyViewToken(token: string, client: string): Promise<Principal>;
  /** Password login; limited per user name and per client address. */
  login(username: string, password: string, client: string): Promise<TokenPair>;
  /** Rotates a refresh token; reuse of a spent one revokes its whole family. */
  refresh(refreshToken: string, client: string): Promise<TokenPair>;
  /** Revokes a refresh token's family and, when given, the access token presented with it. */
  logout(refreshToken: string | undefined, accessToken: string | undefined, client: string): Promise<void>;
  /** A short-lived token carrying the caller's `stream:view`/`recording:view` grants narrowed to one stream. */
  issueViewToken(principal: Principal, stream: string): Promise<{ token: string; expires_in: number }>;
}
