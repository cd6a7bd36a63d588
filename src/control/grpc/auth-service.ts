import type { AuthServiceServer, TokenResponse } from "../../generated/imageflow/v1/ingest_control.js";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { Authenticator, TokenPair } from "../auth/authenticator.js";
import type { CallGuard } from "./call-guard.js";
import { GrpcError } from "./grpc-errors.js";

const tokens = (t: TokenPair): TokenResponse => ({ accessToken: t.access_token, refreshToken: t.refresh_token, tokenType: t.token_type, expiresIn: t.expires_in });

/**
 * The design documents' native-client flow: password → access + refresh token, then Refresh.
 * Public methods (no credentials needed); the authenticator limits attempts per user name and
 * per client address, and a refused password is UNAUTHENTICATED like a refused token.
 */
export function authServiceImplementation(guard: CallGuard, authenticator: Authenticator): AuthServiceServer & UntypedServiceImplementation {
  return {
    authenticate: guard.unary("Authenticate", { permission: "public" }, async (req, ctx) => {
      if (!req.username || !req.password) throw new GrpcError(status.INVALID_ARGUMENT, "username and password are required");
      return tokens(await authenticator.login(req.username, req.password, ctx.client));
    }),
    refresh: guard.unary("Refresh", { permission: "public" }, async (req, ctx) => {
      if (!req.refreshToken) throw new GrpcError(status.INVALID_ARGUMENT, "refresh_token is required");
      return tokens(await authenticator.refresh(req.refreshToken, ctx.client));
    }),
  };
}
