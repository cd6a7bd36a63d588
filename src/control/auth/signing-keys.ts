import { readFile, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, type JWK } from "jose";
import { readJsonIfExists, SerialQueue, writeFileAtomic, writeJsonAtomic } from "./atomic-file.js";

type Key = Awaited<ReturnType<typeof importSPKI>>;

interface KeyMeta {
  kid: string;
  created_at: string;
  /** When a newer key took over signing; its public key stays for verification until tokens it signed have expired. */
  retired_at?: string;
}

interface PublicKeyEntry {
  kid: string;
  key: Key;
  jwk: JWK;
  retiredAtMs: number | undefined;
}

export interface KeyringOptions {
  /** How long after retirement a key may still have unexpired tokens: the longest token lifetime. */
  maxTokenTtlMs: number;
  now?: () => number;
  /** How often signing checks whether another process (the CLI's rotate-key) changed the keys. */
  recheckMs?: number;
}

const INDEX = "keyring.json";

/**
 * The RS256 signing keys, as PEM files in one directory (`IFC_AUTH_KEYS_DIR`, default
 * `<data>/auth`): `<kid>.key.pem` (PKCS#8, 0600) for the current key, `<kid>.pub.pem` (SPKI)
 * for every kept key, and `keyring.json` naming them. `kid` is the key's JWK thumbprint
 * (RFC 7638). Rotation makes a new current key, deletes the old private key at once and keeps
 * the old public key until every token it can have signed has expired.
 */
export class Keyring {
  private current: { kid: string; key: Key } | undefined;
  private publics = new Map<string, PublicKeyEntry>();
  private readonly writes = new SerialQueue();
  private readonly now: () => number;
  private indexMtimeMs = -1;
  private checkedAt = 0;

  constructor(readonly dir: string, private readonly opts: KeyringOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Loads the keys, generating the first one when the directory has none. */
  async init(): Promise<void> {
    await this.writes.run(async () => {
      const meta = await this.readIndex();
      if (meta.length === 0 || !meta.some((m) => m.retired_at === undefined)) await this.addKey(meta);
      else await this.loadFrom(meta);
    });
  }

  /** Rereads the directory (after `users rotate-key` from another process, on SIGHUP). */
  async reload(): Promise<void> {
    await this.writes.run(async () => this.loadFrom(await this.readIndex()));
  }

  /** Rereads the directory when its index changed since the last read (an unknown kid may be a key rotated by the CLI). */
  async reloadIfChanged(): Promise<boolean> {
    const m = await stat(path.join(this.dir, INDEX)).catch(() => undefined);
    if (!m || m.mtimeMs === this.indexMtimeMs) return false;
    await this.reload();
    return true;
  }

  /** A new current key; the previous one verifies only. Returns the new kid. */
  async rotate(): Promise<string> {
    return this.writes.run(async () => {
      const meta = await this.readIndex();
      const at = new Date(this.now()).toISOString();
      for (const m of meta) m.retired_at ??= at;
      return this.addKey(meta);
    });
  }

  /** The current key, after rereading the directory if it changed (at most every `recheckMs`). */
  async freshSigningKey(): Promise<{ kid: string; key: Key }> {
    const t = this.now();
    if (t - this.checkedAt >= (this.opts.recheckMs ?? 5000)) {
      this.checkedAt = t;
      await this.reloadIfChanged().catch(() => false); // a broken directory keeps the keys in memory
    }
    return this.signingKey();
  }

  /** The key new tokens are signed with. */
  signingKey(): { kid: string; key: Key } {
    if (!this.current) throw new Error("keyring not initialised");
    return this.current;
  }

  /** A kept public key by kid, for verification. */
  publicKey(kid: string): Key | undefined {
    return this.publics.get(kid)?.key;
  }

  has(kid: string): boolean {
    return this.publics.has(kid);
  }

  kids(): string[] {
    return [...this.publics.keys()];
  }

  /** The public keys as a JWK Set (RFC 7517) for `/.well-known/jwks.json`. */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.publics.values()].map((p) => p.jwk) };
  }

  private async addKey(meta: KeyMeta[]): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    await writeFileAtomic(path.join(this.dir, `${kid}.pub.pem`), await exportSPKI(publicKey), 0o644);
    await writeFileAtomic(path.join(this.dir, `${kid}.key.pem`), await exportPKCS8(privateKey), 0o600);
    meta.push({ kid, created_at: new Date(this.now()).toISOString() });
    const kept = this.prune(meta);
    await writeJsonAtomic(path.join(this.dir, INDEX), { version: 1, keys: kept });
    // Private keys of retired keys and public keys no longer kept are deleted.
    const keep = new Set(kept.map((m) => m.kid));
    for (const name of await readdir(this.dir)) {
      const m = /^(.+)\.(key|pub)\.pem$/.exec(name);
      if (!m) continue;
      const retired = kept.find((k) => k.kid === m[1])?.retired_at !== undefined;
      if (!keep.has(m[1]!) || (m[2] === "key" && retired)) await rm(path.join(this.dir, name), { force: true });
    }
    await this.loadFrom(kept);
    return kid;
  }

  /** Retired keys whose every token has expired are dropped. */
  private prune(meta: KeyMeta[]): KeyMeta[] {
    const t = this.now();
    return meta.filter((m) => m.retired_at === undefined || Date.parse(m.retired_at) + this.opts.maxTokenTtlMs > t);
  }

  private async loadFrom(meta: KeyMeta[]): Promise<void> {
    const publics = new Map<string, PublicKeyEntry>();
    let current: { kid: string; key: Key } | undefined;
    for (const m of this.prune(meta)) {
      const spki = await readFile(path.join(this.dir, `${m.kid}.pub.pem`), "utf8");
      const key = await importSPKI(spki, "RS256", { extractable: true });
      const jwk = { ...(await exportJWK(key)), kid: m.kid, alg: "RS256", use: "sig" };
      publics.set(m.kid, { kid: m.kid, key, jwk, retiredAtMs: m.retired_at ? Date.parse(m.retired_at) : undefined });
      if (m.retired_at === undefined) {
        const pkcs8 = await readFile(path.join(this.dir, `${m.kid}.key.pem`), "utf8");
        current = { kid: m.kid, key: await importPKCS8(pkcs8, "RS256") };
      }
    }
    if (!current) throw new Error(`${this.dir}: no current signing key (run \`npm run users -- rotate-key\`)`);
    this.publics = publics;
    this.current = current;
    this.indexMtimeMs = (await stat(path.join(this.dir, INDEX)).catch(() => undefined))?.mtimeMs ?? -1;
  }

  private async readIndex(): Promise<KeyMeta[]> {
    const doc = await readJsonIfExists(path.join(this.dir, INDEX));
    if (doc === undefined) return [];
    const keys = (doc as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) throw new Error(`${path.join(this.dir, INDEX)}: expected {"keys": [...]}`);
    const bad = keys.find((k: Partial<KeyMeta>) => !/^[A-Za-z0-9_-]{16,128}$/.test(String(k.kid)));
    if (bad) throw new Error(`${path.join(this.dir, INDEX)}: malformed kid`); // kids name files: no path parts
    return keys.map((k: Partial<KeyMeta>) => ({ kid: String(k.kid), created_at: String(k.created_at), ...(k.retired_at ? { retired_at: String(k.retired_at) } : {}) }));
  }
}
