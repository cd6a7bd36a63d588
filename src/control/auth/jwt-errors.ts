import { errors } from "jose";
import { AuthError } from "./authenticator.js";

/** A jose failure as the AuthError the gate reports (the label of `ifc_auth_failures_total`). */
export function authErrorOf(err: unknown, what: string): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof errors.JWTExpired) return new AuthError("expired", `${what} expired`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return new AuthError("bad-signature", `${what} signature does not verify`);
  if (err instanceof errors.JOSEAlgNotAllowed) return new AuthError("bad-algorithm", `${what} uses an algorithm not accepted`);
  if (err instanceof errors.JWTClaimValidationFailed) return new AuthError("bad-claims", `${what} claim "${err.claim}" is not acceptable (${err.reason})`);
  if (err instanceof errors.JWKSNoMatchingKey) return new AuthError("unknown-key", `${what} was signed by a key not in the key set`);
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return new AuthError("unknown-key", `${what}: the identity provider's key set is unavailable`);
  if (err instanceof errors.JOSEError) return new AuthError("malformed", `${what} is malformed`);
  // A key set fetch that failed (network), or anything else: refuse, never let it through.
  return new AuthError("malformed", `${what} could not be verified`);
}
