/**
 * The RTSP server's port to the permission model (control implements it, the composition wires
 * it): the same rules as WHIP and WHEP. A publish key, a user's password or an access token
 * goes as the RTSP password (the user name is free, or the user's own for a password);
 * `stream:publish` to ANNOUNCE/RECORD, `stream:view` to DESCRIBE/PLAY; no credentials from
 * IFC_AUTH_ANONYMOUS_NETWORKS act as anonymous.
 */
export type RtspAccess = "publish" | "read";

export interface RtspCredentials {
  username: string;
  password: string;
}

/** Refused: 401 (no or bad credentials: challenge again), 403 (valid but not allowed), 429 (rate-limited). */
export class RtspAuthRefused extends Error {
  override name = "RtspAuthRefused";
  constructor(
    readonly status: 401 | 403 | 429,
    message: string,
  ) {
    super(message);
  }
}

export interface RtspAuthorizer {
  /**
   * Resolves with the caller's publisher identity (control/publisher-identity: the same identity
   * may resume or take over its stream, as over WHIP), or rejects with RtspAuthRefused.
   */
  authorize(stream: string, access: RtspAccess, credentials: RtspCredentials | undefined, client: string): Promise<{ identity: string }>;
}
