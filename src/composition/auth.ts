import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { authRoutes, type AuthRoutesOptions } from "../control/auth-routes.js";
import { ExternalJwks } from "../control/auth/external-jwks.js";
import { LocalAuthenticator } from "../control/auth/local-authenticator.js";
import type { ScryptParams } from "../control/auth/password.js";
import type { AuditSink } from "../control/auth/principal.js";
import { PublishKeys } from "../control/auth/publish-keys.js";
import { FileSessionStore } from "../control/auth/session-store.js";
import type { Keyring } from "../control/auth/signing-keys.js";
import { TokenIssuer } from "../control/auth/tokens.js";
import { UserStore } from "../control/auth/user-store.js";
import { authPaths, openKeyring } from "../control/auth/auth-paths.js";

export { authPaths, openKeyring };
import type { RateLimitStore } from "../ports/rate-limit-store.js";
import type { SessionStore } from "../ports/session-store.js";

export interface AuthDeps {
  rateLimits: RateLimitStore;
  /** Refresh tokens and the denylist shared by the cluster (Redis); default: a file under the auth directory. */
  sessions?: SessionStore;
  audit: AuditSink;
  /** Injected clock (tests of expiry and login windows). */
  now?: () => number;
  /** scrypt cost (tests lower it). */
  scrypt?: ScryptParams;
}

export interface AuthParts {
  authenticator: LocalAuthenticator;
  userStore: UserStore;
  keyring: Keyring;
  publishKeys: PublishKeys;
  tokens: TokenIssuer;
  /** Waits for pending session writes (push it on the close stack). */
  close(): Promise<void>;
  /** `app.register(routes.plugin, routes.opts)`. */
  routes: { plugin: typeof authRoutes; opts: AuthRoutesOptions };
}

/** The users store, opened and (on the very first start) seeded with `admin`, whose password is logged once. */
export async function openUserStore(config: Config, logger: Logger, opts: { now?: () => number; scrypt?: ScryptParams } = {}): Promise<UserStore> {
  const { usersFile, initialPasswordFile } = authPaths(config);
  const users = new UserStore(usersFile, opts);
  const { initialAdminPassword } = await users.init(initialPasswordFile);
  if (initialAdminPassword !== undefined) {
    // The one time this password is logged: the operator needs it to log in at all. It is also
    // in initialPasswordFile (0600); change it with `npm run users -- passwd admin`.
    logger.warn({ username: "admin", initialAdminPassword, file: initialPasswordFile }, "first start: created user admin with a random password (shown once; also in the file named)");
  }
  return users;
}

/** Users, signing keys, sessions, publish keys, the external IdP and the routes, ready to serve. */
export async function buildAuth(config: Config, logger: Logger, deps: AuthDeps): Promise<AuthParts> {
  const log = logger.child({ component: "auth" });
  const now = deps.now ?? Date.now;
  const { authDir } = authPaths(config);
  const userStore = await openUserStore(config, log, { now, ...(deps.scrypt ? { scrypt: deps.scrypt } : {}) });
  const keyring = await openKeyring(config, now);
  let sessions: SessionStore;
  let flushSessions = async (): Promise<void> => undefined;
  if (deps.sessions) {
    sessions = deps.sessions;
  } else {
    const file = new FileSessionStore(path.join(authDir, "sessions.json"), now);
    await file.load();
    sessions = file;
    flushSessions = () => file.flush();
  }
  const publishKeys = new PublishKeys(path.join(authDir, "publish-keys.json"), now);
  await publishKeys.load();
  const tokens = new TokenIssuer(keyring, { issuer: config.authIssuer, accessTtlMs: config.authAccessTtlMs, viewTtlMs: config.authViewTokenTtlMs, now });
  const external = config.authJwksUrl
    ? new ExternalJwks({ url: config.authJwksUrl, issuer: config.authJwksIssuer, audience: config.authJwksAudience, permissionClaim: config.authPermissionClaim, now })
    : undefined;
  const authenticator = new LocalAuthenticator({
    users: userStore, tokens, sessions, publishKeys, external,
    rateLimits: deps.rateLimits, audit: deps.audit,
    limits: { maxFailuresPerUser: config.loginMaxFailuresPerUser, maxAttemptsPerClient: config.loginMaxAttemptsPerClient, windowMs: config.loginWindowMs },
    refreshTtlMs: config.authRefreshTtlMs,
    now,
    ...(deps.scrypt ? { scrypt: deps.scrypt } : {}),
  });
  log.info({ kids: keyring.kids(), users: userStore.list().length, external: config.authJwksUrl || undefined }, "auth ready");
  return { authenticator, userStore, keyring, publishKeys, tokens, close: flushSessions, routes: { plugin: authRoutes, opts: { authenticator, users: userStore, keyring, publishKeys } } };
}

