import cookie from "@fastify/cookie";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { ProblemError } from "../../errors.js";
import { empty, problems } from "../schemas.js";
import { AuthError, type Authenticator } from "./authenticator.js";
import { SESSION_COOKIE } from "./gate.js";

export interface SessionRoutesOptions {
  authenticator: Authenticator;
  /** IFC_PUBLIC_URL: an https one marks the cookie Secure even behind a TLS-terminating proxy. */
  publicUrl?: string;
}

const Login = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
const Session = Type.Object({ user: Type.String(), expires_in: Type.Integer({ description: "Seconds until the session cookie expires" }) });

/**
 * The built-in pages' login: `POST /api/v1/auth/session` checks a password and sets the
 * `ifc_session` cookie (HttpOnly, SameSite=Strict) holding an access token; `DELETE` logs out
 * and clears it. The token never appears in a body or a URL, so page scripts cannot leak it;
 * the gate reads the cookie and checks the Origin of unsafe requests that carry it (CSRF).
 * The refresh token of the login is not kept: a page logs in again when the cookie expires.
 */
export async function sessionRoutes(parent: FastifyInstance, opts: SessionRoutesOptions): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();
  if (!app.hasReplyDecorator("setCookie")) await app.register(cookie);
  const secure = (req: FastifyRequest): boolean => req.protocol === "https" || /^https:/i.test(opts.publicUrl ?? "");

  app.post(
    "/api/v1/auth/session",
    {
      config: { auth: { permission: "public" } },
      schema: {
        summary: "Log in the built-in pages (sets the ifc_session cookie)",
        tags: ["auth"],
        body: Login,
        response: { 200: Session, ...problems(400, 401, 403, 429) },
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      let pair;
      try {
        pair = await opts.authenticator.login(username, password, req.ip);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        throw refused(err);
      }
      void reply.setCookie(SESSION_COOKIE, pair.access_token, { httpOnly: true, sameSite: "strict", path: "/", secure: secure(req), maxAge: pair.expires_in });
      reply.header("cache-control", "no-store");
      return { user: username, expires_in: pair.expires_in };
    },
  );

  app.delete(
    "/api/v1/auth/session",
    {
      config: { auth: { permission: "public" } },
      schema: { summary: "Log out the built-in pages (revokes and clears the ifc_session cookie)", tags: ["auth"], response: { 204: empty("Logged out; the cookie is cleared"), ...problems(403) } },
    },
    async (req, reply: FastifyReply) => {
      const token = req.cookies[SESSION_COOKIE];
      if (token) {
        // A stale or already revoked cookie is still cleared: logging out must always work.
        await opts.authenticator.logout(undefined, token, req.ip).catch((err: unknown) => {
          if (!(err instanceof AuthError)) throw err;
        });
      }
      void reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "strict", path: "/", secure: secure(req) });
      return reply.code(204).send();
    },
  );
}

function refused(err: AuthError): ProblemError {
  if (err.reason === "rate-limited") {
    return new ProblemError(429, "too-many-requests", "Too many requests", "too many login attempts; try again later", {}, { "retry-after": String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  }
  // One answer for a wrong user name and a wrong password: no user enumeration.
  return new ProblemError(401, "invalid-credentials", "Unauthorized", "wrong user name or password", {}, { "www-authenticate": 'Bearer realm="ifc"' });
}
