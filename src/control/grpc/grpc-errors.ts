import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { CapacityExceeded, DomainError } from "../../core/errors.js";
import { ProblemError } from "../../errors.js";
import { QosAboveMaximumError } from "../../extractor/qos-controller.js";
import { ClipLimitError } from "../../recorder/clips.js";
import { UnreadableManifestError } from "../../recorder/manifest-store.js";
import { TagLimitError } from "../../recorder/recorder.js";
import { AuthError } from "../auth/authenticator.js";

/** A status the service chose itself (a refused credential, a missing grant, the rate limit). */
export class GrpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Trailers: `retry-after-ms`, `problem-type`. */
    readonly trailers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GrpcError";
  }
}

const PROBLEM_BASE = "urn:imageflowcanvas:problem:";

/** HTTP status of a ProblemError → gRPC code (the mapping of grpc/doc/http-grpc-status-mapping, turned around). */
function codeOfHttp(httpStatus: number, slug: string): status {
  if (slug === "stream-busy") return status.ALREADY_EXISTS;
  switch (httpStatus) {
    case 400:
    case 406:
    case 413:
    case 415:
      return status.INVALID_ARGUMENT;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.NOT_FOUND;
    case 409:
    case 412:
      return status.FAILED_PRECONDITION;
    case 429:
    case 507:
      return status.RESOURCE_EXHAUSTED;
    case 503:
      return status.UNAVAILABLE;
    default:
      return httpStatus >= 500 ? status.INTERNAL : status.UNKNOWN;
  }
}

const DOMAIN_CODES: Record<DomainError["kind"], status> = {
  "invalid-input": status.INVALID_ARGUMENT,
  unsupported: status.INVALID_ARGUMENT,
  "not-found": status.NOT_FOUND,
  conflict: status.ALREADY_EXISTS,
  // A configured limit: trying again later may succeed (retry-after-ms says when).
  "capacity-exceeded": status.RESOURCE_EXHAUSTED,
};

/**
 * The edge's one translation of what a service threw into a gRPC status, as
 * problemOfDomainError is for HTTP. The problem `type` travels as the `problem-type` trailer so
 * clients branch on the same identifiers as REST. Anything unexpected is INTERNAL with a bland
 * message (the log line has the error).
 */
export function toGrpcError(err: unknown): { code: status; message: string; trailers: Record<string, string>; internal: boolean } {
  const t = (slug: string, extra: Record<string, string> = {}) => ({ "problem-type": PROBLEM_BASE + slug, ...extra });
  if (err instanceof GrpcError) return { code: err.code, message: err.message, trailers: err.trailers, internal: false };
  if (err instanceof AuthError) {
    if (err.reason === "rate-limited") return { code: status.RESOURCE_EXHAUSTED, message: err.message, trailers: t("rate-limited", { "retry-after-ms": String(err.retryAfterMs) }), internal: false };
    return { code: status.UNAUTHENTICATED, message: err.message, trailers: t("unauthorized", { "auth-failure": err.reason }), internal: false };
  }
  if (err instanceof DomainError) {
    const retry: Record<string, string> = err instanceof CapacityExceeded ? { "retry-after-ms": String(err.retryAfterSeconds * 1000) } : {};
    return { code: DOMAIN_CODES[err.kind], message: err.message, trailers: t(err.slug, retry), internal: false };
  }
  if (err instanceof ProblemError) {
    const slug = err.type.startsWith(PROBLEM_BASE) ? err.type.slice(PROBLEM_BASE.length) : err.type;
    const retryS = Number(err.headers["retry-after"]);
    const retry: Record<string, string> = Number.isFinite(retryS) && retryS > 0 ? { "retry-after-ms": String(retryS * 1000) } : {};
    return { code: codeOfHttp(err.status, slug), message: err.message, trailers: t(slug, retry), internal: false };
  }
  if (err instanceof TagLimitError) return { code: status.INVALID_ARGUMENT, message: err.message, trailers: t("too-many-tags"), internal: false };
  if (err instanceof ClipLimitError) {
    if (err.limit === "span") return { code: status.INVALID_ARGUMENT, message: err.message, trailers: t("clip-too-long"), internal: false };
    if (err.limit === "count") return { code: status.FAILED_PRECONDITION, message: err.message, trailers: t("clip-limit"), internal: false };
    return { code: status.RESOURCE_EXHAUSTED, message: err.message, trailers: t("clip-storage-full"), internal: false };
  }
  if (err instanceof QosAboveMaximumError) return { code: status.INVALID_ARGUMENT, message: `${err.message} (IFC_AI_MAX_PRESET)`, trailers: t("qos-above-maximum"), internal: false };
  if (err instanceof UnreadableManifestError) return { code: status.NOT_FOUND, message: "no such recording", trailers: t("recording-not-found"), internal: false };
  return { code: status.INTERNAL, message: "internal error", trailers: {}, internal: true };
}

/** A ServiceError for grpc-js callbacks and `call.destroy()`. */
export function serviceError(code: status, message: string, trailers: Record<string, string>): Partial<ServiceError> & Error {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(message), { code, details: message, metadata });
}
