/**
 * Refresh-token families and the access-token denylist of the control plane's local accounts.
 */
/** One refresh token, stored by the SHA-256 of its value (the value itself is never kept). */
export interface RefreshRecord {
  hash: string;
  /** Every token rotated from one login shares it; reuse of a spent one revokes them all. */
  family: string;
  username: string;
  expiresAtMs: number;
  spent: boolean;
  revoked: boolean;
}

/**
 * Where refresh-token families and the access-token denylist live. In one JSON file on one node
 * (`FileSessionStore`, control/auth); in Redis when several nodes share sessions.
 */
export interface SessionStore {
  put(rec: RefreshRecord): Promise<void>;
  get(hash: string): Promise<RefreshRecord | undefined>;
  /** Marks the token spent; false when it already was (the caller lost a race or it is a reuse). */
  spend(hash: string): Promise<boolean>;
  revokeFamily(family: string): Promise<void>;
  revokeUser(username: string): Promise<void>;
  /** Refuses the access token `jti` until `expiresAtMs` (its own expiry; it is dead after that anyway). */
  deny(jti: string, expiresAtMs: number): Promise<void>;
  isDenied(jti: string): Promise<boolean>;
}
