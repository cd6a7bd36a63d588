import { AuthError } from "../../src/control/auth/authenticator.js";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MemoryRateLimitStore } from "../../src/adapters/state/memory-rate-limit-store.js";
import { ExternalJwks } from "../../src/control/auth/external-jwks.js";
import { LocalAuthenticator, type LoginLimits } from "../../src/control/auth/local-authenticator.js";
import type { AuditEntry } from "../../src/control/auth/principal.js";
import { PublishKeys } from "../../src/control/auth/publish-keys.js";
import { FileSessionStore } from "../../src/control/auth/session-store.js";
import { Keyring } from "../../src/control/auth/signing-keys.js";
import { TokenIssuer } from "../../src/control/auth/tokens.js";
import { UserStore } from "../../src/control/auth/user-store.js";

/** scrypt at a cost tests can afford hundreds of times (production uses N=16384). */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

/** A settable clock: tests move time instead of waiting for it. */
export class TestClock {
  constructor(public t = Date.parse("2026-01-01T00:00:00Z")) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface AuthFixture {
  dir: string;
  clock: TestClock;
  users: UserStore;
  keyring: Keyring;
  tokens: TokenIssuer;
  sessions: FileSessionStore;
  publishKeys: PublishKeys;
  rateLimits: MemoryRateLimitStore;
  audits: AuditEntry[];
  auth: LocalAuthenticator;
  cleanup(): Promise<void>;
}

export interface AuthFixtureOptions {
  accessTtlMs?: number;
  viewTtlMs?: number;
  refreshTtlMs?: number;
  limits?: Partial<LoginLimits>;
  jwksUrl?: string;
  jwksIssuer?: string;
  jwksAudience?: string;
  issuer?: string;
}

let keyTemplate: Promise<string> | undefined;
/** One generated key directory per test process, copied into each fixture: RSA generation is slow on a busy machine. */
function keyTemplateDir(): Promise<string> {
  keyTemplate ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ifc-auth-keys-"));
    await new Keyring(dir, { maxTokenTtlMs: 1 }).init();
    return dir;
  })();
  return keyTemplate;
}

/** The real authenticator over real files in a temp directory, with an injected clock. */
export async function authFixture(o: AuthFixtureOptions = {}): Promise<AuthFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-auth-"));
  const clock = new TestClock();
  const users = new UserStore(path.join(dir, "users.json"), { scrypt: TEST_SCRYPT, now: clock.now, recheckMs: 0 });
  await users.init(path.join(dir, "initial-admin-password"));
  const accessTtlMs = o.accessTtlMs ?? 8 * 3_600_000;
  const viewTtlMs = o.viewTtlMs ?? 3_600_000;
  await cp(await keyTemplateDir(), path.join(dir, "auth"), { recursive: true });
  const keyring = new Keyring(path.join(dir, "auth"), { maxTokenTtlMs: Math.max(accessTtlMs, viewTtlMs), now: clock.now });
  await keyring.init();
  const tokens = new TokenIssuer(keyring, { issuer: o.issuer ?? "ifc-test", accessTtlMs, viewTtlMs, now: clock.now });
  const sessions = new FileSessionStore(path.join(dir, "auth", "sessions.json"), clock.now);
  const publishKeys = new PublishKeys(path.join(dir, "auth", "publish-keys.json"), clock.now);
  const rateLimits = new MemoryRateLimitStore(clock.now);
  const audits: AuditEntry[] = [];
  const external = o.jwksUrl
    ? new ExternalJwks({ url: o.jwksUrl, issuer: o.jwksIssuer ?? "", audience: o.jwksAudience ?? "", permissionClaim: "permissions", now: clock.now })
    : undefined;
  const auth = new LocalAuthenticator({
    users, tokens, sessions, publishKeys, external, rateLimits,
    audit: { record: (e) => audits.push(e) },
    limits: { maxFailuresPerUser: 5, maxAttemptsPerClient: 20, windowMs: 900_000, ...o.limits },
    refreshTtlMs: o.refreshTtlMs ?? 7 * 86_400_000,
    now: clock.now,
    scrypt: TEST_SCRYPT,
  });
  return { dir, clock, users, keyring, tokens, sessions, publishKeys, rateLimits, audits, auth, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The reason of the AuthError a promise rejects with (fails the test on anything else). */
export async function authFailureReason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(err)}`);
  return err.reason;
}
