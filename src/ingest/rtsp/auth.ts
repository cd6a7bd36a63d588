/**
 * RTSP authentication headers (RFC 2617 Basic and Digest, as RTSP clients and cameras use
 * them; RFC 7616 SHA-256 where a camera asks for it). CONTRACT: signatures fixed; implemented by
 * the rtsp-wire work.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { RtspWireError } from "./message.js";

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

/** Splits `k=v, k="v, with comma"` auth-params (RFC 7235 §2.1); names lower-cased. */
function authParams(text: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === ",")) i++;
    if (i >= n) break;
    const eq = text.indexOf("=", i);
    if (eq < 0) return undefined;
    const name = text.slice(i, eq).trim().toLowerCase();
    if (!/^[a-z0-9_-]+$/.test(name)) return undefined;
    i = eq + 1;
    while (i < n && text[i] === " ") i++;
    let value = "";
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      if (i >= n) return undefined;
      i++;
    } else {
      const end = text.indexOf(",", i);
      value = text.slice(i, end < 0 ? n : end).trim();
      i = end < 0 ? n : end;
    }
    out.set(name, value);
  }
  return out;
}

/** Parses an Authorization header value; throws RtspWireError 400 when malformed or of another scheme. */
export function parseAuthorization(value: string): RtspAuthorization {
  const v = value.trim();
  const sp = v.indexOf(" ");
  const scheme = (sp < 0 ? v : v.slice(0, sp)).toLowerCase();
  const rest = sp < 0 ? "" : v.slice(sp + 1).trim();
  if (scheme === "basic") {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(rest)) throw new RtspWireError(400, "malformed Basic credentials");
    const decoded = Buffer.from(rest, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new RtspWireError(400, "malformed Basic credentials (no colon)");
    return { scheme: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme === "digest") {
    const p = authParams(rest);
    if (!p) throw new RtspWireError(400, "malformed Digest credentials");
    const need = (k: string): string => {
      const x = p.get(k);
      if (x === undefined) throw new RtspWireError(400, `Digest credentials without ${k}`);
      return x;
    };
    const auth: DigestAuthorization = { scheme: "digest", username: need("username"), realm: need("realm"), nonce: need("nonce"), uri: need("uri"), response: need("response") };
    for (const k of ["algorithm", "qop", "nc", "cnonce", "opaque"] as const) {
      const x = p.get(k);
      if (x !== undefined) auth[k] = x;
    }
    return auth;
  }
  throw new RtspWireError(400, `unsupported authorization scheme ${JSON.stringify(scheme.slice(0, 20))} (Basic and Digest are)`);
}

const quote = (s: string): string => `"${s.replace(/["\\]/g, "\\$&")}"`;

/** `Basic realm="..."` */
export function basicChallenge(realm: string): string {
  return `Basic realm=${quote(realm)}`;
}

/** `Digest realm="...", nonce="..."` (MD5, as RTSP clients expect). */
export function digestChallenge(realm: string, nonce: string): string {
  return `Digest realm=${quote(realm)}, nonce=${quote(nonce)}`;
}

type DigestHash = "md5" | "sha256";

/** The hash an algorithm names; undefined for what we do not support (e.g. -sess variants). */
function digestHash(algorithm: string | undefined): DigestHash | undefined {
  const a = (algorithm ?? "MD5").toUpperCase();
  if (a === "MD5") return "md5";
  if (a === "SHA-256") return "sha256";
  return undefined;
}

function h(hash: DigestHash, s: string): string {
  return createHash(hash).update(s, "utf8").digest("hex");
}

function digestResponse(hash: DigestHash, a: { username: string; realm: string; nonce: string; uri: string; qop?: string; nc?: string; cnonce?: string }, method: string, password: string): string {
  const ha1 = h(hash, `${a.username}:${a.realm}:${password}`);
  const ha2 = h(hash, `${method}:${a.uri}`);
  if (a.qop === "auth") return h(hash, `${ha1}:${a.nonce}:${a.nc ?? ""}:${a.cnonce ?? ""}:auth:${ha2}`);
  return h(hash, `${ha1}:${a.nonce}:${ha2}`);
}

/** Checks a Digest response against the plain password (RFC 2617 §3.2.2, MD5 and SHA-256, with or without qop=auth). */
export function verifyDigest(auth: DigestAuthorization, method: string, password: string): boolean {
  const hash = digestHash(auth.algorithm);
  if (!hash) return false;
  if (auth.qop !== undefined && auth.qop !== "auth") return false;
  if (auth.qop === "auth" && (auth.nc === undefined || auth.cnonce === undefined)) return false;
  const expected = Buffer.from(digestResponse(hash, auth, method, password), "latin1");
  const got = Buffer.from(auth.response.toLowerCase(), "latin1");
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** Parses WWW-Authenticate values (one challenge per header value; a value may hold several). */
export function parseChallenges(values: readonly string[]): RtspChallenge[] {
  const out: RtspChallenge[] = [];
  for (const value of values) {
    // A new challenge starts where a scheme token is followed by a space and an auth-param.
    const starts: number[] = [];
    const re = /(?:^|,)\s*(basic|digest)\s+(?=[a-z0-9_-]+\s*=)/gi;
    for (let m = re.exec(value); m; m = re.exec(value)) starts.push(m.index + (m[0].startsWith(",") ? 1 : 0));
    for (let i = 0; i < starts.length; i++) {
      const part = value.slice(starts[i], starts[i + 1] ?? value.length).trim().replace(/,$/, "");
      const sp = part.search(/\s/);
      const scheme = part.slice(0, sp).toLowerCase() as "basic" | "digest";
      const p = authParams(part.slice(sp + 1));
      if (!p) continue;
      const c: RtspChallenge = { scheme, realm: p.get("realm") ?? "" };
      const nonce = p.get("nonce");
      if (nonce !== undefined) c.nonce = nonce;
      const algorithm = p.get("algorithm");
      if (algorithm !== undefined) c.algorithm = algorithm;
      const qop = p.get("qop");
      if (qop !== undefined) c.qop = qop;
      const opaque = p.get("opaque");
      if (opaque !== undefined) c.opaque = opaque;
      const stale = p.get("stale");
      if (stale !== undefined) c.stale = stale.toLowerCase() === "true";
      if (scheme === "digest" && c.nonce === undefined) continue;
      out.push(c);
    }
  }
  return out;
}

/** The Authorization value answering `challenge` for one request (Digest: nc counts per nonce via `nc`). */
export function answerChallenge(challenge: RtspChallenge, method: string, uri: string, username: string, password: string, nc = 1): string {
  if (challenge.scheme === "basic") return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
  const hash = digestHash(challenge.algorithm);
  if (!hash) throw new RtspWireError(400, `unsupported Digest algorithm ${JSON.stringify(challenge.algorithm ?? "")}`);
  // qop may offer a list ("auth,auth-int"): we only do auth.
  const qop = challenge.qop?.split(",").map((q) => q.trim().toLowerCase()).includes("auth") ? "auth" : undefined;
  const a: { username: string; realm: string; nonce: string; uri: string; qop?: string; nc?: string; cnonce?: string } = { username, realm: challenge.realm, nonce: challenge.nonce ?? "", uri };
  if (qop) {
    a.qop = qop;
    a.nc = nc.toString(16).padStart(8, "0");
    a.cnonce = randomBytes(8).toString("hex");
  }
  const response = digestResponse(hash, a, method, password);
  let out = `Digest username=${quote(username)}, realm=${quote(a.realm)}, nonce=${quote(a.nonce)}, uri=${quote(uri)}, response=${quote(response)}`;
  if (challenge.algorithm !== undefined) out += `, algorithm=${challenge.algorithm}`;
  if (challenge.opaque !== undefined) out += `, opaque=${quote(challenge.opaque)}`;
  if (qop) out += `, qop=auth, nc=${a.nc ?? ""}, cnonce=${quote(a.cnonce ?? "")}`;
  return out;
}

/** Splits `rtsp://user:pass@host/path` into the URL without userinfo and the (percent-decoded) credentials. */
export function splitUrlCredentials(url: string): { url: string; username?: string; password?: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (!m) return { url };
  const [, scheme = "", authority = "", rest = ""] = m;
  // The last @ ends the userinfo: passwords with a raw @ are common in camera URLs.
  const at = authority.lastIndexOf("@");
  if (at < 0) return { url };
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(":");
  const out: { url: string; username?: string; password?: string } = { url: scheme + authority.slice(at + 1) + rest };
  out.username = pct(colon < 0 ? userinfo : userinfo.slice(0, colon));
  if (colon >= 0) out.password = pct(userinfo.slice(colon + 1));
  return out;
}

/** Percent-decoding that keeps a malformed escape as written instead of throwing. */
function pct(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
