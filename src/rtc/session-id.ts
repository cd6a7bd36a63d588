import { randomBytes } from "node:crypto";

/**
 * A session resource id: 128 random bits (base64url, 22 characters). The id is in the session's
 * URL, which is the only handle a WHIP/WHEP client has, so it must not be guessable (a UUIDv4
 * has 122 random bits; this is a little more and shorter).
 */
export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}
