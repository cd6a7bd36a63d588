import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { assertStreamName } from "../../core/stream-name.js";
import { InvalidInput, NotFound } from "../../core/errors.js";
import { readJsonIfExists, SerialQueue, writeJsonAtomic } from "./atomic-file.js";
import { AuthError } from "./authenticator.js";
import type { Principal } from "./principal.js";

/** A publish key as listed: never its secret nor the secret's hash. */
export interface PublishKeyView {
  id: string;
  stream: string;
  label: string | null;
  /** ISO time, or null: never expires. */
  expires_at: string | null;
  created_at: string;
  /** Subject that created it (audit). */
  created_by: string;
}

interface PublishKeyRecord extends PublishKeyView {
  /** SHA-256 of the secret, hex: the secret is 256 random bits, so a plain hash is enough (no guessing to slow). */
  secret_sha256: string;
  revoked_at: string | null;
}

export const PUBLISH_KEY_PREFIX = "ifcpk_";
const KEY_FORMAT = /^ifcpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function isPublishKey(token: string): boolean {
  return token.startsWith(PUBLISH_KEY_PREFIX);
}

const sha256 = (s: string): Buffer => createHash("sha256").update(s).digest();

/**
 * Per-stream publish keys (`ifcpk_<id>_<secret>`), usable as the WHIP Bearer token (what OBS's
 * "Bearer token" field sends) and later as RTSP credentials. The id finds the key; the secret
 * (256 bits) is shown once at creation and stored as its SHA-256. Persisted in
 * `<auth dir>/publish-keys.json` (0600, atomic). Revoked keys leave the listings but stay on
 * file, so presenting one is refused as "revoked" rather than as an unknown key.
 */
export class PublishKeys {
  private keys = new Map<string, PublishKeyRecord>();
  private readonly writes = new SerialQueue();

  constructor(private readonly file: string, private readonly now: () => number = Date.now) {}

  async load(): Promise<void> {
    const doc = (await readJsonIfExists(this.file)) as { keys?: PublishKeyRecord[] } | undefined;
    this.keys = new Map((doc?.keys ?? []).map((k) => [k.id, k]));
  }

  /** A new key for `stream`; the returned `key` is the only time its secret exists outside the client. */
  async create(stream: string, opts: { label?: string; expiresAt?: string; createdBy: string }): Promise<PublishKeyView & { key: string }> {
    assertStreamName(stream);
    let expires: string | null = null;
    if (opts.expiresAt !== undefined) {
      const ms = Date.parse(opts.expiresAt);
      if (!Number.isFinite(ms)) throw new InvalidInput("invalid-expires-at", "expires_at must be an ISO 8601 date-time");
      if (ms <= this.now()) throw new InvalidInput("invalid-expires-at", "expires_at must be in the future");
      expires = new Date(ms).toISOString();
    }
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const rec: PublishKeyRecord = {
      id, stream, label: opts.label ?? null, expires_at: expires, created_at: new Date(this.now()).toISOString(), created_by: opts.createdBy,
      secret_sha256: sha256(secret).toString("hex"), revoked_at: null,
    };
    await this.writes.run(async () => {
      this.keys.set(id, rec);
      await this.save();
    });
    return { ...view(rec), key: `${PUBLISH_KEY_PREFIX}${id}_${secret}` };
  }

  /** The stream's live keys (neither revoked nor expired), oldest first. */
  list(stream: string): PublishKeyView[] {
    const t = this.now();
    return [...this.keys.values()]
      .filter((k) => k.stream === stream && k.revoked_at === null && !expired(k, t))
      .sort((a, b) => a.created_at.localeCompare(b.created_at))
      .map(view);
  }

  async revoke(stream: string, id: string): Promise<PublishKeyView> {
    return this.writes.run(async () => {
      const k = this.keys.get(id);
      if (!k || k.stream !== stream || k.revoked_at !== null) throw new NotFound("publish-key-not-found", `stream "${stream}" has no key "${id.slice(0, 40)}"`);
      k.revoked_at = new Date(this.now()).toISOString();
      await this.save();
      return view(k);
    });
  }

  /** The key's principal: `stream:publish:<stream>` and nothing else. */
  verify(token: string, client: string): Principal {
    const m = KEY_FORMAT.exec(token);
    if (!m) throw new AuthError("malformed", "publish key is malformed");
    const k = this.keys.get(m[1]!);
    if (!k || !timingSafeEqual(Buffer.from(k.secret_sha256, "hex"), sha256(m[2]!))) throw new AuthError("bad-credentials", "publish key is not valid");
    if (k.revoked_at !== null) throw new AuthError("revoked", "publish key was revoked");
    if (expired(k, this.now())) throw new AuthError("expired", "publish key expired");
    return { kind: "publish-key", subject: `key:${k.id}`, permissions: [`stream:publish:${k.stream}`], client, credentialId: k.id };
  }

  private async save(): Promise<void> {
    await writeJsonAtomic(this.file, { version: 1, keys: [...this.keys.values()] });
  }
}

function expired(k: PublishKeyView, t: number): boolean {
  return k.expires_at !== null && Date.parse(k.expires_at) <= t;
}

function view(k: PublishKeyRecord): PublishKeyView {
  return { id: k.id, stream: k.stream, label: k.label, expires_at: k.expires_at, created_at: k.created_at, created_by: k.created_by };
}
