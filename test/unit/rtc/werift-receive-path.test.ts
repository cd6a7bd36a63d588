import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RTCRtpCodecParameters, RTCRtpReceiver, RtpHeader, SrtpAuthenticationError } from "werift";
import { installReceivePathFastPaths, weriftGcmCipher, weriftReceivePathOriginals } from "../../../src/rtc/werift-receive-path.js";

// werift's own code, whether or not an earlier test file in this process installed the fast paths.
const receiverProto = RTCRtpReceiver.prototype as object;
const originals = weriftReceivePathOriginals();
const originalNack = originals.nackEnabled;
const originalTwcc = originals.twccEnabled;
const originalName = originals.codecName;
const cipher = weriftGcmCipher();
const originalDecrypt = originals.gcmDecrypt as ((c: Buffer, roc: number, h: RtpHeader) => [Buffer, RtpHeader]) | undefined;

const installed = installReceivePathFastPaths();

const codecTable = fc.dictionary(
  fc.integer({ min: 0, max: 127 }).map(String),
  fc.subarray(["nack", "transport-cc", "goog-remb", "ccm"]),
  { maxKeys: 6 },
).map((d) => Object.fromEntries(Object.entries(d).map(([pt, types]) => [pt, { payloadType: Number(pt), rtcpFeedback: types.map((type) => ({ type })) }])));

describe("werift receive path fast paths", () => {
  it("installs all three parts (each agreed with werift's own first)", () => {
    expect(installed).toEqual({ srtpDecrypt: true, receiverFlags: true, codecName: true });
    expect(cipher).toBeDefined();
    // each replacement is in place and knows werift's original
    expect(Object.getOwnPropertyDescriptor(receiverProto, "nackEnabled")?.get).not.toBe(originalNack);
    expect(Object.getOwnPropertyDescriptor(RTCRtpCodecParameters.prototype, "name")?.get).not.toBe(originalName);
    expect(cipher?.decryptRtp).not.toBe(originalDecrypt);
  });

  it("receiver nackEnabled/twccEnabled: the lowest payload type's feedback, as werift's sorted copy gave, for any codec table", () => {
    fc.assert(
      fc.property(codecTable, (codecs) => {
        const r = Object.assign(Object.create(receiverProto) as { nackEnabled: unknown; twccEnabled: unknown }, { codecs });
        expect(r.nackEnabled).toBe(originalNack.call(r));
        expect(r.twccEnabled).toBe(originalTwcc.call(r));
      }),
      { numRuns: 500 },
    );
  });

  it("receiver flags follow the table through prepareReceive (cached when werift writes it), write after write", () => {
    fc.assert(
      fc.property(fc.array(codecTable, { minLength: 1, maxLength: 3 }), (writes) => {
        const r = Object.assign(Object.create(receiverProto) as { nackEnabled: unknown; twccEnabled: unknown; codecs: object; prepareReceive(p: unknown): void }, { codecs: {}, ssrcByRtx: {} });
        for (const table of writes) {
          r.prepareReceive({ codecs: Object.values(table), encodings: [] });
          expect(r.nackEnabled).toBe(originalNack.call(r));
          expect(r.twccEnabled).toBe(originalTwcc.call(r));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("codec name: the MIME subtype, as werift's split gave, for any MIME type", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (mimeType) => {
        const c = new RTCRtpCodecParameters({ mimeType, clockRate: 90000 });
        expect(c.name).toBe(originalName.call(c));
      }),
      { numRuns: 500 },
    );
  });

  it("SRTP AES-GCM decryption: the same plaintext packet and padding as werift's, and SrtpAuthenticationError on a forged tag or bad padding", () => {
    if (!cipher || !originalDecrypt) throw new Error("no GCM cipher");
    const parse = (packet: Buffer): RtpHeader => Object.assign(RtpHeader.deSerialize(packet.subarray(0, packet.length - 16)), { paddingSize: 0 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 1200 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (seq, ts, len, pad, padded) => {
        const payload = randomBytes(len);
        const paddingSize = padded ? Math.min(len, Math.max(1, pad)) : 0;
        if (padded) payload[len - 1] = pad; // may lie about its size: both must refuse the same
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: ts, ssrc: 1234, padding: padded, paddingSize });
        const packet = cipher.encryptRtp(header, payload, 2);
        const run = (fn: (c: Buffer, roc: number, h: RtpHeader) => [Buffer, RtpHeader], p: Buffer): string => {
          try {
            const [dst, h] = fn.call(cipher, p, 2, parse(p));
            return `${dst.toString("hex")}/${h.paddingSize}`;
          } catch (err) {
            return err instanceof SrtpAuthenticationError ? "auth-error" : `other: ${String(err)}`;
          }
        };
        expect(run(cipher.decryptRtp as never, packet)).toBe(run(originalDecrypt, packet));
        const forged = Buffer.from(packet);
        forged[forged.length - 2] = (forged[forged.length - 2] as number) ^ 0x40;
        expect(run(cipher.decryptRtp as never, forged)).toBe("auth-error");
      }),
      { numRuns: 300 },
    );
  });
});
