import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import { markReplacement, originalOf } from "./werift-patch.js";

/**
 * werift 0.25.2 does its DTLS key exchange on X25519 (the curve Chromium, OBS and werift offer
 * first) with tweetnacl, in pure JavaScript on the event loop: one key pair and one shared
 * secret per handshake took 35–45 ms each at 8 joining publishers (bench/ingest-cost.ts
 * --profile: crypto_scalarmult in the loop's longest stalls), during which no publisher's
 * datagrams are read. Node's crypto (OpenSSL) does the same in well under a millisecond.
 *
 * `installNativeX25519` replaces the two tweetnacl functions werift calls (`box.keyPair`,
 * `scalarMult`) on the tweetnacl instance werift loads, with the same contract: 32-byte
 * Uint8Arrays, RFC 7748 clamping; checked against tweetnacl's own result before it is put in
 * place. Where OpenSSL refuses a result (a low-order public key gives an all-zero secret),
 * tweetnacl's answer is kept, so the handshake fails as it did, on its Finished.
 */

interface NaclLike {
  box: { keyPair: () => { publicKey: Uint8Array; secretKey: Uint8Array } };
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & { scalarLength: number; groupElementLength: number };
  randomBytes: (n: number) => Uint8Array;
}

// DER prefixes of a raw 32-byte X25519 key (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

function privateKeyOf(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

function publicKeyOf(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length));
}

function rawPrivate(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_PREFIX.length));
}

/** X25519(n, p) by OpenSSL; undefined where OpenSSL refuses (all-zero result, malformed input). */
export function nativeScalarMult(n: Uint8Array, p: Uint8Array): Uint8Array | undefined {
  if (n.length !== 32 || p.length !== 32) return undefined;
  try {
    return new Uint8Array(diffieHellman({ privateKey: privateKeyOf(n), publicKey: publicKeyOf(p) }));
  } catch {
    return undefined;
  }
}

/** A fresh X25519 key pair as tweetnacl's box.keyPair returns it (each in its own 32-byte buffer). */
export function nativeKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublic(publicKey), secretKey: rawPrivate(privateKey) };
}

/** tweetnacl as werift resolves it (the same module instance werift's bundle imported). */
export function weriftNacl(): NaclLike {
  // Resolved from werift's own directory: a copy nested under werift would be the one it uses.
  const fromWerift = createRequire(createRequire(import.meta.url).resolve("werift"));
  return fromWerift("tweetnacl") as NaclLike;
}

export type NativeX25519Install = "installed" | "already" | "disagrees";

/** Puts the native X25519 in place of tweetnacl's in `nacl` (werift's, by default), after checking they agree. */
export function installNativeX25519(nacl: NaclLike = weriftNacl()): NativeX25519Install {
  if (originalOf(nacl.scalarMult)) return "already";
  const originalMult = nacl.scalarMult;
  const originalKeyPair = nacl.box.keyPair;
  // Agreement on fresh keys both ways: tweetnacl's pair through OpenSSL, OpenSSL's through tweetnacl.
  const a = originalKeyPair();
  const b = nativeKeyPair();
  const same = (x: Uint8Array | undefined, y: Uint8Array): boolean => x !== undefined && Buffer.from(x).equals(Buffer.from(y));
  if (!same(nativeScalarMult(a.secretKey, b.publicKey), originalMult(a.secretKey, b.publicKey))) return "disagrees";
  if (!same(nativeScalarMult(b.secretKey, a.publicKey), originalMult(b.secretKey, a.publicKey))) return "disagrees";
  if (!same(rawPublic(createPublicKey(privateKeyOf(b.secretKey))), originalMult.call(nacl, b.secretKey, basePoint()))) return "disagrees";
  // The replacements keep the originals' properties (scalarMult.base, box.keyPair.fromSecretKey...).
  nacl.scalarMult = markReplacement(Object.assign((n: Uint8Array, p: Uint8Array): Uint8Array => nativeScalarMult(n, p) ?? originalMult(n, p), originalMult), originalMult);
  nacl.box.keyPair = markReplacement(Object.assign(() => nativeKeyPair(), originalKeyPair), originalKeyPair);
  return "installed";
}

/** The X25519 base point u = 9. */
function basePoint(): Uint8Array {
  const p = new Uint8Array(32);
  p[0] = 9;
  return p;
}
