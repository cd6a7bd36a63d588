import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { AuthError } from "../../../../src/control/auth/authenticator.js";
import { toGrpcError } from "../../../../src/control/grpc/grpc-errors.js";
import { CapacityExceeded, Conflict, InvalidInput, NotFound } from "../../../../src/core/errors.js";
import { BadRequestError, ConflictError, NotFoundError, ProblemError, ServiceUnavailableError } from "../../../../src/errors.js";
import { ClipLimitError } from "../../../../src/recorder/clips.js";
import { TagLimitError } from "../../../../src/recorder/recorder.js";

describe("toGrpcError", () => {
  it("maps domain errors by kind, with the problem type and retry-after-ms", () => {
    expect(toGrpcError(new InvalidInput("invalid-stream-name", "bad"))).toMatchObject({ code: status.INVALID_ARGUMENT, trailers: { "problem-type": "urn:imageflowcanvas:problem:invalid-stream-name" } });
    expect(toGrpcError(new NotFound("x", "gone")).code).toBe(status.NOT_FOUND);
    expect(toGrpcError(new Conflict("stream-busy", "busy")).code).toBe(status.ALREADY_EXISTS);
    expect(toGrpcError(new CapacityExceeded("too-many-publishers", "full", 5))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, trailers: { "retry-after-ms": "5000" } });
  });

  it("maps problem errors by HTTP status", () => {
    expect(toGrpcError(new BadRequestError("no", "invalid-tag")).code).toBe(status.INVALID_ARGUMENT);
    expect(toGrpcError(new NotFoundError("no", "clip-not-found")).code).toBe(status.NOT_FOUND);
    expect(toGrpcError(new ConflictError("full", "clip-limit")).code).toBe(status.FAILED_PRECONDITION);
    expect(toGrpcError(new ServiceUnavailableError("closing", 5, "shutting-down"))).toMatchObject({ code: status.UNAVAILABLE, trailers: { "retry-after-ms": "5000" } });
    expect(toGrpcError(new ProblemError(507, "clip-storage-full", "Insufficient storage", "full")).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("auth failures are UNAUTHENTICATED (rate-limited logins RESOURCE_EXHAUSTED); limits of the recorder are the caller's", () => {
    expect(toGrpcError(new AuthError("expired", "expired"))).toMatchObject({ code: status.UNAUTHENTICATED, trailers: { "auth-failure": "expired" } });
    expect(toGrpcError(new AuthError("rate-limited", "slow down", 1500))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, trailers: { "retry-after-ms": "1500" } });
    expect(toGrpcError(new TagLimitError(3)).code).toBe(status.INVALID_ARGUMENT);
    expect(toGrpcError(new ClipLimitError("count", "many")).code).toBe(status.FAILED_PRECONDITION);
  });

  it("anything else is INTERNAL with a bland message", () => {
    expect(toGrpcError(new Error("secret path /etc/x"))).toEqual({ code: status.INTERNAL, message: "internal error", trailers: {}, internal: true });
  });
});
