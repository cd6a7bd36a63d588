import { CapacityExceeded, type DomainError } from "../core/errors.js";
import { ProblemError } from "../errors.js";

/** Each kind of domain error's HTTP status and RFC 7807 title. */
const STATUS: Record<DomainError["kind"], { status: number; title: string }> = {
  "invalid-input": { status: 400, title: "Bad request" },
  // 406: what the client offered (an SDP's codecs) has nothing the server can accept.
  unsupported: { status: 406, title: "Not acceptable" },
  "not-found": { status: 404, title: "Not found" },
  conflict: { status: 409, title: "Conflict" },
  // A limit reached is the server working as configured: 503 with Retry-After, not a fault.
  "capacity-exceeded": { status: 503, title: "Service unavailable" },
};

/** Titles more precise than their kind's, kept as clients have seen them. */
const TITLES: Record<string, string> = {
  "invalid-stream-name": "Invalid stream name",
  "invalid-sdp": "Invalid SDP",
  "unsupported-codec": "No acceptable codec",
};

/**
 * The edge's one translation of a domain error into problem details (as MediaMTX's API maps
 * `ErrMuxerNotFound` to 404): status by kind, `type` from the slug, details as extension members.
 */
export function problemOfDomainError(err: DomainError): ProblemError {
  const { status, title } = STATUS[err.kind];
  const headers: Record<string, string> = err instanceof CapacityExceeded ? { "retry-after": String(err.retryAfterSeconds) } : {};
  return new ProblemError(status, err.slug, TITLES[err.slug] ?? title, err.message, err.details, headers);
}
