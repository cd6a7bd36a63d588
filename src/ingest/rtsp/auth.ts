/**
 * RTSP authentication headers (RFC 2617 Basic and Digest, as RTSP clients and cameras use
 * them; RFC 7616 SHA-256 where a camera asks for it). CONTRACT: signatures fixed; implemented by
 * the rtsp-wire work.
 */
export interface BasicAuthorization {
  scheme: "basic";
  username: string;
  password: string;
}

export interface DigestAuthorization {
  scheme: "digest";
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
}

export type RtspAuthorization = BasicAuthorization | DigestAuthorization;

/** A WWW-Authenticate challenge from a server (the pull client answers it). */
export interface RtspChallenge {
  scheme: "basic" | "digest";
  realm: string;
  nonce?: string;
  algorithm?: string;
  qop?: string;
  opaque?: string;
  stale?: boolean;
}

/** Parses an Authorization header value; throws RtspWireError 400 when malformed or of another scheme. */
export declare function parseAuthorization(value: string): RtspAuthorization;
/** `Basic realm="..."` */
export declare function basicChallenge(realm: string): string;
/** `Digest realm="...", nonce="..."` (MD5, as RTSP clients expect). */
export declare function digestChallenge(realm: string, nonce: string): string;
/** Checks a Digest response against the plain password (RFC 2617 §3.2.2, MD5 and SHA-256, with or without qop=auth). */
export declare function verifyDigest(auth: DigestAuthorization, method: string, password: string): boolean;
/** Parses WWW-Authenticate values (one challenge per header value; a value may hold several). */
export declare function parseChallenges(values: readonly string[]): RtspChallenge[];
/** The Authorization value answering `challenge` for one request (Digest: nc counts per nonce via `nc`). */
export declare function answerChallenge(challenge: RtspChallenge, method: string, uri: string, username: string, password: string, nc?: number): string;
/** Splits `rtsp://user:pass@host/path` into the URL without userinfo and the (percent-decoded) credentials. */
export declare function splitUrlCredentials(url: string): { url: string; username?: string; password?: string };
