import { RtspAuthRefused, type RtspAccess, type RtspAuthorizer, type RtspCredentials } from "../ingest/rtsp/authorizer.js";
import { AuthError, type Authenticator } from "./auth/authenticator.js";
import { NetworkList } from "./auth/networks.js";
import { grants, type Permission } from "./auth/permissions.js";
import type { Principal } from "./auth/principal.js";
import { isPublishKey } from "./auth/publish-keys.js";
import { publisherIdentity } from "./publisher-identity.js";

/** What the RTSP authorizer needs of the Authenticator: bearer credentials, and a user's password checked as login checks it. */
export interface RtspCredentialChecks {
  verifyBearer: Authenticator["verifyBearer"];
  /** LocalAuthenticator.verifyUserPassword: login's checks and rate limits, no tokens issued. */
  verifyUserPassword(username: string, password: string, client: string): Promise<Principal>;
}

export interface ControlRtspAuthorizerOptions {
  checks: RtspCredentialChecks;
  /** IFC_AUTH_ANONYMOUS_NETWORKS */
  anonymousNetworks: readonly string[];
  /** IFC_AUTH_ANONYMOUS_PERMISSIONS */
  anonymousPermissions: readonly string[];
}

const NEEDED: Record<RtspAccess, Permission> = { publish: "stream:publish", read: "stream:view" };
/** A compact JWS (header.payload.signature): an access token or an external IdP's, sent as the password. */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The RTSP server's permission check: the HTTP gate's rules over RTSP credentials. The password
 * carries a publish key or an access token (checked as a Bearer credential; the user name is
 * free), or a user's own password (with that user's name). Credentials presented and refused →
 * 401, never a fall back to anonymous; none → anonymous from IFC_AUTH_ANONYMOUS_NETWORKS, else
 * 401. The permission (`stream:publish` to publish, `stream:view` to read) is checked against
 * the stream name (scoped grants); refused → 403, or 401 for an anonymous caller.
 */
export class ControlRtspAuthorizer implements RtspAuthorizer {
  private readonly anonymous: NetworkList;

  constructor(private readonly opts: ControlRtspAuthorizerOptions) {
    this.anonymous = new NetworkList(opts.anonymousNetworks, "IFC_AUTH_ANONYMOUS_NETWORKS");
  }

  async authorize(stream: string, access: RtspAccess, credentials: RtspCredentials | undefined, client: string): Promise<{ identity: string }> {
    const principal = credentials ? await this.verify(credentials, client) : this.anonymousPrincipal(client);
    const needed = NEEDED[access];
    if (!grants(principal.permissions, needed, stream)) {
      if (principal.kind === "anonymous") throw new RtspAuthRefused(401, `credentials needed: permission ${needed} on stream ${stream}`);
      throw new RtspAuthRefused(403, `${principal.subject} lacks permission ${needed} on stream ${stream}`);
    }
    return { identity: publisherIdentity(principal) };
  }

  private anonymousPrincipal(client: string): Principal {
    const network = this.anonymous.networkOf(client);
    return network !== undefined
      ? { kind: "anonymous", subject: "anonymous", permissions: this.opts.anonymousPermissions, client, network }
      : { kind: "anonymous", subject: "anonymous", permissions: [], client };
  }

  private async verify(c: RtspCredentials, client: string): Promise<Principal> {
    try {
      if (isPublishKey(c.password) || JWT.test(c.password)) return await this.opts.checks.verifyBearer(c.password, client);
      return await this.opts.checks.verifyUserPassword(c.username, c.password, client);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      if (err.reason === "rate-limited") throw new RtspAuthRefused(429, err.message);
      throw new RtspAuthRefused(401, err.message);
    }
  }
}
