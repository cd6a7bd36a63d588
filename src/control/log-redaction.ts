import type { LoggerOptions } from "pino";

/** Field names that hold a secret wherever they appear in a logged object. */
const SECRET_FIELDS = ["password", "access_token", "refresh_token", "token", "key", "secret", "authorization", "cookie", "set-cookie"];

/**
 * pino (fast-redact) matches fixed paths with `*` for one level, not "at any depth": the fields
 * are listed at the top level and up to three objects deep (`*.*.*.password`), which covers
 * `{ body: { password } }`, `{ req: { headers: { authorization } } }` and
 * `{ user: { credentials: { token } } }`. A secret four objects deep, inside a string (a message
 * built by concatenation) or under another name is NOT caught: never log bodies or headers whole.
 * Arrays are covered (`*` matches an index).
 */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => {
  const k = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
  const dot = k.startsWith("[") ? "" : ".";
  return [k, `*${dot}${k}`, `*.*${dot}${k}`, `*.*.*${dot}${k}`];
});

/** Query parameters that carry credentials (players' view tokens). */
const SECRET_QUERY = /([?&](?:token|access_token|refresh_token|key|password)=)[^&#]*/gi;

/** A URL fit for a log line: credential query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, "$1[redacted]");
}

interface RequestLike {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

/**
 * Options for every logger of the server (main.ts and the tests' harness): redaction of secret
 * fields, and a `req` serializer that keeps method, URL (view tokens masked) and client, never
 * the headers (Authorization, Cookie).
 */
export function loggerRedaction(): Pick<LoggerOptions, "redact" | "serializers"> {
  return {
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: {
      req: (req: RequestLike) => ({ method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), client: req.ip ?? req.socket?.remoteAddress }),
      url: (url: unknown) => (typeof url === "string" ? redactUrl(url) : url),
    },
  };
}
