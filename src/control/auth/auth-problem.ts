import { ProblemError } from "../../errors.js";
import { AuthError } from "./authenticator.js";
import { NoViewGrant } from "./tokens.js";

/** RFC 6750 §3: quoted-string content, no quotes or backslashes, bounded. */
const quoted = (s: string): string => s.replace(/["\\\r\n]/g, "'").slice(0, 200);

/**
 * Refused credentials as the problem the client sees: 401 with `WWW-Authenticate` (RFC 6750),
 * or 429 with `Retry-After` for a login limited against brute force. The `reason` member lets a
 * client tell an expired token (refresh it) from a bad one.
 */
export function authProblem(err: AuthError): ProblemError {
  if (err.reason === "rate-limited") {
    const s = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    return new ProblemError(429, "rate-limited", "Too many requests", err.message, { retry_after_s: s }, { "retry-after": String(s) });
  }
  return new ProblemError(401, "unauthorized", "Unauthorized", err.message, { reason: err.reason }, {
    "www-authenticate": `Bearer realm="ifc", error="invalid_token", error_description="${quoted(err.message)}"`,
  });
}

/** Rethrows auth failures as problems (401/429/403); anything else unchanged. */
export function asProblem(err: unknown): unknown {
  if (err instanceof AuthError) return authProblem(err);
  if (err instanceof NoViewGrant) return new ProblemError(403, "forbidden", "Forbidden", err.message, { stream: err.stream });
  return err;
}
