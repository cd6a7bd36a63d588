/**
 * Typed errors that map to RFC 7807 problem details. Every HTTP error the server returns is
 * one of these, so clients can branch on `type` rather than on message text. core/ throws
 * domain errors (core/errors.ts) instead; control/ maps them to these at the edge.
 */

// A URN rather than a URL: no host of ours has to serve it, and it never changes with deployment.
const TYPE_BASE = "urn:imageflowcanvas:problem:";

export class ProblemError extends Error {
  readonly type: string;
  constructor(
    readonly status: number,
    slug: string,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.type = TYPE_BASE + slug;
  }

  toJSON(instance?: string): Record<string, unknown> {
    return { type: this.type, title: this.title, status: this.status, detail: this.message, ...(instance ? { instance } : {}), ...this.extra };
  }
}

export const problemType = (slug: string): string => TYPE_BASE + slug;

export class BadRequestError extends ProblemError {
  constructor(detail: string, slug = "bad-request", extra?: Record<string, unknown>) {
    super(400, slug, "Bad request", detail, extra);
  }
}
export class InvalidSdpError extends ProblemError {
  constructor(detail: string) {
    super(400, "invalid-sdp", "Invalid SDP", detail);
  }
}
export class UnsupportedCodecError extends ProblemError {
  constructor(offered: string[], accepted: string[]) {
    super(406, "unsupported-codec", "No acceptable codec",
      `offer has no acceptable video codec (offered: ${offered.join(", ") || "none"}; accepted: ${accepted.join(", ")})`,
      { offered, accepted });
  }
}
export class NotFoundError extends ProblemError {
  constructor(detail: string, slug = "not-found") {
    super(404, slug, "Not found", detail);
  }
}
export class ConflictError extends ProblemError {
  constructor(detail: string, slug = "conflict") {
    super(409, slug, "Conflict", detail);
  }
}
export class PayloadTooLargeError extends ProblemError {
  constructor(limit: number) {
    super(413, "payload-too-large", "Payload too large", `body exceeds the limit of ${limit} bytes`, { limit });
  }
}
export class UnsupportedMediaTypeError extends ProblemError {
  constructor(got: string | undefined, expected: string) {
    super(415, "unsupported-media-type", "Unsupported media type", `expected Content-Type ${expected}, got ${got ?? "none"}`);
  }
}
export class PreconditionFailedError extends ProblemError {
  constructor(detail: string) {
    super(412, "precondition-failed", "Precondition failed", detail);
  }
}
export class ServiceUnavailableError extends ProblemError {
  constructor(detail: string, retryAfterSeconds?: number, slug = "unavailable") {
    super(503, slug, "Service unavailable", detail, {}, retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {});
  }
}
