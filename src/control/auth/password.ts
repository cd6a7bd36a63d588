import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * Password hashes as self-describing strings, `scrypt$N=16384,r=8,p=1$<salt>$<hash>` (base64url),
 * so the cost can be raised later without breaking stored hashes: each verifies with its own
 * parameters.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~16 MiB and some tens of ms per hash: dear for a guesser, cheap for one login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16_384, r: 8, p: 1 };
const KEY_LEN = 32;
const SALT_LEN = 16;
/** Longer passwords are refused before hashing: scrypt's cost is per byte of input too. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 8;

function scryptAsync(password: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  // maxmem above 128·N·r, the memory scrypt needs, or Node refuses larger N.
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LEN);
  const key = await scryptAsync(password, salt, params);
  return `scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** Whether `stored` is a hash this module can verify. */
export function isPasswordHash(stored: string): boolean {
  const m = FORMAT.exec(stored);
  return !!m && isPowerOfTwo(Number(m[1]));
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

/** Constant-time comparison of the derived key; false (never a throw) for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m || !isPowerOfTwo(Number(m[1]))) return false;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const salt = Buffer.from(m[4]!, "base64url");
  const expected = Buffer.from(m[5]!, "base64url");
  if (expected.length !== KEY_LEN) return false;
  // An over-long password still costs its hash (same timing), then fails.
  const tooLong = password.length > MAX_PASSWORD_LENGTH;
  const key = await scryptAsync(tooLong ? password.slice(0, MAX_PASSWORD_LENGTH) : password, salt, params);
  return timingSafeEqual(key, expected) && !tooLong;
}

/**
 * Verifies against a hash of a random password nobody knows: a login for a user that does not
 * exist costs the same hash as one for a user that does, so timing does not reveal user names.
 */
export class DummyHash {
  private hash: Promise<string> | undefined;
  constructor(private readonly params: ScryptParams = DEFAULT_SCRYPT) {}
  async burn(password: string): Promise<false> {
    this.hash ??= hashPassword(randomBytes(18).toString("base64url"), this.params);
    await verifyPassword(password, await this.hash);
    return false;
  }
}

/** A random password for generated accounts (the first admin, `users add` without --password): 144 bits. */
export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}

/** Why a new password is refused, or undefined when acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `a password needs at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `a password may have at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}
