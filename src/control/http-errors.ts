import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { DomainError } from "../core/errors.js";
import { DatabaseUnavailableError } from "../ports/database.js";
import { ProblemError, problemType } from "../errors.js";
import { problemOfDomainError } from "./domain-problem.js";
import { PROBLEM } from "./schemas.js";

/** One failing field of a request, as listed in a validation problem's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

interface AjvError {
  instancePath?: string;
  schemaPath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * A schema validation failure as a 400 problem listing each failing field (`body.tags.x`,
 * `params.stream`, `querystring.duration`). A bad stream name keeps its own problem type
 * (`invalid-stream-name`), which clients met before the schemas took over that check.
 */
export function validationProblem(context: string, errors: readonly AjvError[]): ProblemError {
  const list: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const path = (e.instancePath ?? "").split("/").filter(Boolean).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    if (e.keyword === "additionalProperties" && typeof e.params?.additionalProperty === "string") path.push(e.params.additionalProperty);
    if (e.keyword === "required" && typeof e.params?.missingProperty === "string") path.push(e.params.missingProperty);
    const field = [context, ...path].join(".");
    const message = e.keyword === "additionalProperties" ? "is not a known field" : e.keyword === "required" ? "is required" : (e.message ?? "is invalid");
    const key = `${field} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    list.push({ field, message });
  }
  const detail = list.map((f) => `${f.field} ${f.message}`).join("; ") || "the request does not match its schema";
  const streamNameFailed = errors.some((e) => /^streamName(#|\/|$)/.test(e.schemaPath ?? ""));
  if (streamNameFailed) return new ProblemError(400, "invalid-stream-name", "Invalid stream name", detail, { errors: list });
  return new ProblemError(400, "validation", "Invalid request", detail, { errors: list });
}

/** Every error as the problem it answers: ours as typed, domain errors mapped, Fastify's by code, anything else 500. */
export function toProblem(err: FastifyError | ProblemError | Error): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof DomainError) return problemOfDomainError(err);
  const fe = err as FastifyError & { validationContext?: string };
  if (fe.validation) return validationProblem(fe.validationContext ?? "request", fe.validation as AjvError[]);
  if (err instanceof DatabaseUnavailableError) return new ProblemError(503, "database-unavailable", "Service unavailable", "the metadata database cannot be reached; try again later", {}, { "retry-after": "5" });
  switch (fe.code) {
    case "FST_REQ_FILE_TOO_LARGE":
      return new ProblemError(413, "file-too-large", "Payload too large", fe.message);
    case "FST_FILES_LIMIT":
    case "FST_PARTS_LIMIT":
    case "FST_FIELDS_LIMIT":
      return new ProblemError(413, "too-many-parts", "Payload too large", fe.message);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ProblemError(413, "payload-too-large", "Payload too large", fe.message);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
        ? new ProblemError(415, "unsupported-media-type", "Unsupported media type", fe.message)
        : new ProblemError(400, "bad-request", "Bad request", fe.message);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ProblemError(400, "invalid-json", "Bad request", fe.message);
    case "FST_ERR_BAD_URL":
      return new ProblemError(400, "bad-url", "Bad request", "the request path is not valid percent-encoding");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new ProblemError(414, "uri-too-long", "URI too long", "a path parameter is longer than the server accepts");
  }
  // Anything Fastify marks as the client's fault keeps its status (JSON syntax, …).
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ProblemError(fe.statusCode, "bad-request", STATUS_CODES[fe.statusCode] ?? "Bad request", fe.message);
  }
  return new ProblemError(500, "internal", "Internal error", "the server failed to handle the request");
}

/** Sends a problem (headers included) as `application/problem+json`. */
export function sendProblem(reply: FastifyReply, req: FastifyRequest, problem: ProblemError): void {
  for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
  void reply.code(problem.status).type(PROBLEM).send(problem.toJSON(req.url.split("?")[0]));
}

/**
 * Fastify's router errors (bad percent-encoding, an over-long path parameter) before any route
 * runs: as problem+json, not Fastify's default JSON.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  sendProblem(reply, req, toProblem(err));
}

/**
 * Node's HTTP parser errors, written as a raw problem+json response on the socket (no request
 * object exists yet): a malformed request line or header (400), oversized headers (431), a
 * request not received in time (408). The connection is closed after it.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  let status = 400;
  let slug = "bad-request";
  let detail = "the request could not be parsed as HTTP/1.1";
  if (err.code === "HPE_HEADER_OVERFLOW") {
    status = 431;
    slug = "headers-too-large";
    detail = "the request's headers exceed the server's limit";
  } else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = 408;
    slug = "request-timeout";
    detail = "the request was not received in time";
  }
  if (socket.writable) socket.write(rawProblemResponse(status, slug, detail));
  socket.destroy();
}

/** A complete HTTP/1.1 response carrying a problem, for when only a socket is at hand. */
export function rawProblemResponse(status: number, slug: string, detail: string, headers: Record<string, string> = {}): string {
  const title = STATUS_CODES[status] ?? "Error";
  const body = JSON.stringify({ type: problemType(slug), title, status, detail });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
}

/**
 * The methods each registered path pattern answers, so a request for a known path with another
 * method gets 405 with `Allow` (RFC 9110 §15.5.6) instead of 404.
 */
export class MethodIndex {
  private readonly routes: { re: RegExp; methods: Set<string> }[] = [];
  private readonly byPattern = new Map<string, Set<string>>();

  add(url: string, method: string | string[]): void {
    // The catch-all OPTIONS route of CORS-less setups and wildcard docs routes are not a path's own methods.
    if (url === "*" || url === "/*") return;
    let methods = this.byPattern.get(url);
    if (!methods) {
      methods = new Set();
      this.byPattern.set(url, methods);
      this.routes.push({ re: patternRegExp(url), methods });
    }
    for (const m of Array.isArray(method) ? method : [method]) methods.add(m.toUpperCase());
  }

  /** The methods allowed on `path`, or undefined when no route has that path. */
  allowed(path: string): string[] | undefined {
    const found = new Set<string>();
    for (const r of this.routes) if (r.re.test(path)) for (const m of r.methods) found.add(m);
    return found.size > 0 ? [...found].sort() : undefined;
  }
}

function patternRegExp(url: string): RegExp {
  const parts = url.split("/").map((seg) => {
    if (seg === "*") return ".*";
    if (seg.startsWith(":")) return "[^/]+";
    return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/")}/?$`);
}
