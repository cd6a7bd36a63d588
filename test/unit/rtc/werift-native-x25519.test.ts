import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
// werift first: its tweetnacl is then the cached instance, apart from the fresh copies below.
import "werift";
import { installNativeX25519, nativeKeyPair, nativeScalarMult, weriftNacl } from "../../../src/rtc/werift-native-x25519.js";

interface Nacl {
  box: { keyPair: () => { publicKey: Uint8Array; secretKey: Uint8Array } };
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & { base: (n: Uint8Array) => Uint8Array };
}

/** A private copy of tweetnacl (not the cached instance werift uses) as the reference. */
function freshNacl(): Nacl {
  const req = createRequire(import.meta.url);
  const id = req.resolve("tweetnacl");
  const saved = req.cache[id];
  delete req.cache[id];
  try {
    return req("tweetnacl") as Nacl;
  } finally {
    if (saved) req.cache[id] = saved;
    else delete req.cache[id];
  }
}

const hex = (u: Uint8Array | undefined): string => Buffer.from(u ?? []).toString("hex");

describe("native X25519 for werift's DTLS (in place of tweetnacl's pure-JS scalar multiplication)", () => {
  const reference = freshNacl();

  it("computes the same shared secret as tweetnacl for any scalar and any key pair's public key", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (n, seed) => {
        const p = reference.scalarMult.base(seed);
        expect(hex(nativeScalarMult(n, p))).toBe(hex(reference.scalarMult(n, p)));
      }),
      { numRuns: 300 },
    );
  });

  it("RFC 7748 §5.2 test vector", () => {
    const k = Buffer.from("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", "hex");
    const u = Buffer.from("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", "hex");
    expect(hex(nativeScalarMult(k, u))).toBe("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  });

  it("makes key pairs whose public key is the base point times the secret key, in 32-byte buffers of their own", () => {
    const { publicKey, secretKey } = nativeKeyPair();
    expect(publicKey.length).toBe(32);
    expect(secretKey.length).toBe(32);
    // werift wraps `.buffer`: it must hold exactly the key
    expect(Buffer.from(secretKey.buffer).equals(Buffer.from(secretKey))).toBe(true);
    expect(Buffer.from(publicKey.buffer).equals(Buffer.from(publicKey))).toBe(true);
    expect(hex(publicKey)).toBe(hex(reference.scalarMult.base(secretKey)));
  });

  it("refuses what OpenSSL refuses (a low-order point: all-zero secret), and the installed one then answers as tweetnacl did", () => {
    const zeroPoint = new Uint8Array(32);
    const n = nativeKeyPair().secretKey;
    expect(nativeScalarMult(n, zeroPoint)).toBeUndefined();
    expect(nativeScalarMult(n.subarray(0, 31), zeroPoint)).toBeUndefined();
    const nacl = freshNacl();
    expect(installNativeX25519(nacl as never)).toBe("installed");
    expect(hex(nacl.scalarMult(n, zeroPoint))).toBe(hex(reference.scalarMult(n, zeroPoint)));
    // properties werift or others may use stay
    expect(typeof nacl.scalarMult.base).toBe("function");
  });

  it("is installed on werift's own tweetnacl instance once, and werift's calls then go to OpenSSL", () => {
    const nacl = weriftNacl() as unknown as Nacl;
    // "already" when an earlier test file in this process installed it
    expect(["installed", "already"]).toContain(installNativeX25519());
    expect(installNativeX25519()).toBe("already");
    expect(nacl.scalarMult).not.toBe(reference.scalarMult);
    const a = nacl.box.keyPair();
    const b = reference.box.keyPair();
    expect(hex(nacl.scalarMult(a.secretKey, b.publicKey))).toBe(hex(reference.scalarMult(b.secretKey, a.publicKey)));
  });
});
