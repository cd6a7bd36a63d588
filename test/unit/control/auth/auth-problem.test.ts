import { describe, expect, it } from "vitest";
import { asProblem, authProblem } from "../../../../src/control/auth/auth-problem.js";
import { AuthError } from "../../../../src/control/auth/authenticator.js";
import { NoViewGrant } from "../../../../src/control/auth/tokens.js";
import type { ProblemError } from "../../../../src/errors.js";

describe("auth failures as problems", () => {
  it("401 with an RFC 6750 challenge whose description cannot break out of its quotes", () => {
    const p = authProblem(new AuthError("expired", 'access token "x" expired\r\nSet-Cookie: a=b'));
    expect(p.status).toBe(401);
    expect(p.toJSON()).toMatchObject({ type: "urn:imageflowcanvas:problem:unauthorized", reason: "expired" });
    const h = p.headers["www-authenticate"]!;
    expect(h).toMatch(/^Bearer realm="ifc", error="invalid_token", error_description="[^"\r\n]*"$/);
  });

  it("rate-limited → 429 with Retry-After in whole seconds, at least 1", () => {
    expect(authProblem(new AuthError("rate-limited", "slow down", 1500)).headers["retry-after"]).toBe("2");
    const p = authProblem(new AuthError("rate-limited", "slow down", 1));
    expect([p.status, p.headers["retry-after"]]).toEqual([429, "1"]);
  });

  it("no view grant → 403; anything else passes through", () => {
    const p = asProblem(new NoViewGrant("cam1")) as ProblemError;
    expect([p.status, p.toJSON().stream]).toEqual([403, "cam1"]);
    const other = new Error("x");
    expect(asProblem(other)).toBe(other);
  });
});
