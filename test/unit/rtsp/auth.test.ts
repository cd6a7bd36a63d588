import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { answerChallenge, basicChallenge, digestChallenge, parseAuthorization, parseChallenges, splitUrlCredentials, verifyDigest, type DigestAuthorization } from "../../../src/ingest/rtsp/auth.js";
import { RtspWireError, type RtspRequest } from "../../../src/ingest/rtsp/message.js";
import { RtspWireReader } from "../../../src/ingest/rtsp/wire-reader.js";
import { fuzzParams } from "../../support/fuzz.js";
import { capture } from "./capture.js";

const digest = (v: string): DigestAuthorization => {
  const a = parseAuthorization(v);
  if (a.scheme !== "digest") throw new Error("not digest");
  return a;
};

function requests(name: string): RtspRequest[] {
  const out: RtspRequest[] = [];
  new RtspWireReader({ maxHeaderBytes: 8192, maxBodyBytes: 8192 }, { onRequest: (r) => out.push(r), onResponse: () => undefined, onInterleaved: () => undefined }).push(capture(name));
  return out;
}

describe("RTSP Digest", () => {
  it("verifies the RFC 2617 §3.5 example (MD5, qop=auth)", () => {
    const a = digest(
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    expect(a).toMatchObject({ username: "Mufasa", qop: "auth", nc: "00000001", cnonce: "0a4f113b", opaque: "5ccc069c403ebaf9f0171e9517f40e41" });
    expect(verifyDigest(a, "GET", "Circle Of Life")).toBe(true);
    expect(verifyDigest(a, "GET", "Circle of Life")).toBe(false);
    expect(verifyDigest(a, "POST", "Circle Of Life")).toBe(false);
  });

  it("verifies the RFC 7616 §3.9.1 example (SHA-256, qop=auth)", () => {
    const a = digest(
      'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    );
    expect(verifyDigest(a, "GET", "Circle of Life")).toBe(true);
    expect(verifyDigest(a, "GET", "Circle Of Life")).toBe(false);
  });

  it("verifies what ffmpeg, ffprobe and GStreamer actually sent (no qop), per method and URI", () => {
    const cases: [string, string][] = [
      ["ffmpeg-push-tcp", "secret"],
      ["ffprobe-read-tcp", "pa@ss"], // sent as pa%40ss in the URL: ffmpeg decodes it
      ["gst-read-tcp", "secret"],
    ];
    for (const [name, password] of cases) {
      const signed = requests(name).filter((r) => r.headers.has("Authorization"));
      expect(signed.length).toBeGreaterThanOrEqual(4);
      for (const r of signed) {
        const a = digest(r.headers.get("Authorization") ?? "");
        expect(a.uri).toBe(r.uri);
        expect(verifyDigest(a, r.method, password)).toBe(true);
        expect(verifyDigest(a, r.method, `${password}x`)).toBe(false);
        expect(verifyDigest(a, r.method === "SETUP" ? "PLAY" : "SETUP", password)).toBe(false);
      }
    }
  });

  it("answerChallenge output verifies with verifyDigest (MD5 and SHA-256, with and without qop, any credentials)", () => {
    fc.assert(
      fc.property(
        fc.record({ user: fc.string({ maxLength: 20 }), pass: fc.string({ maxLength: 20 }), realm: fc.string({ maxLength: 20 }), nonce: fc.stringMatching(/^[0-9a-f]{8,32}$/) }),
        fc.constantFrom(undefined, "MD5", "SHA-256"),
        fc.constantFrom(undefined, "auth", "auth,auth-int"),
        fc.constantFrom("DESCRIBE", "SETUP", "PLAY", "ANNOUNCE"),
        fc.integer({ min: 1, max: 1000 }),
        ({ user, pass, realm, nonce }, algorithm, qop, method, nc) => {
          const header = `Digest realm="${realm.replace(/["\\]/g, "\\$&")}", nonce="${nonce}"${algorithm ? `, algorithm=${algorithm}` : ""}${qop ? `, qop="${qop}"` : ""}`;
          const [challenge] = parseChallenges([header]);
          expect(challenge).toMatchObject({ scheme: "digest", realm, nonce });
          if (!challenge) return;
          const answer = answerChallenge(challenge, method, "rtsp://cam/x", user, pass, nc);
          const a = digest(answer);
          expect(a.username).toBe(user);
          if (qop) expect(a.nc).toBe(nc.toString(16).padStart(8, "0"));
          expect(verifyDigest(a, method, pass)).toBe(true);
          expect(verifyDigest(a, method, `${pass}!`)).toBe(false);
        },
      ),
      fuzzParams(200),
    );
  });

  it("refuses algorithms and qop it does not implement; digestChallenge is what clients answer", () => {
    const base = { scheme: "digest" as const, username: "u", realm: "r", nonce: "n", uri: "/", response: "00" };
    expect(verifyDigest({ ...base, algorithm: "MD5-sess" }, "GET", "p")).toBe(false);
    expect(verifyDigest({ ...base, qop: "auth-int", nc: "00000001", cnonce: "c" }, "GET", "p")).toBe(false);
    expect(verifyDigest({ ...base, qop: "auth" }, "GET", "p")).toBe(false);
    expect(digestChallenge("IFC", "abc")).toBe('Digest realm="IFC", nonce="abc"');
    expect(basicChallenge('a"b')).toBe('Basic realm="a\\"b"');
    expect(parseChallenges([digestChallenge("IFC", "abc")])).toEqual([{ scheme: "digest", realm: "IFC", nonce: "abc" }]);
  });
});

describe("RTSP Basic and challenge parsing", () => {
  it("parses Basic, keeping colons in the password", () => {
    expect(parseAuthorization(`Basic ${Buffer.from("cam:pa:ss").toString("base64")}`)).toEqual({ scheme: "basic", username: "cam", password: "pa:ss" });
    expect(answerChallenge({ scheme: "basic", realm: "x" }, "DESCRIBE", "rtsp://h/", "cam", "pa:ss")).toBe(`Basic ${Buffer.from("cam:pa:ss").toString("base64")}`);
  });

  it("refuses malformed credentials and other schemes with 400", () => {
    for (const v of ["Basic", "Basic !!!", `Basic ${Buffer.from("nocolon").toString("base64")}`, "Bearer abc", "Digest", 'Digest username="u", realm="r"', 'Digest username="u', ""]) {
      let err: unknown;
      try {
        parseAuthorization(v);
      } catch (e) {
        err = e;
      }
      expect(err, v).toBeInstanceOf(RtspWireError);
      expect((err as RtspWireError).status).toBe(400);
    }
  });

  it("parses several challenges in one value and in several values (cameras send both)", () => {
    expect(parseChallenges(['Digest realm="IP Camera(21388)", nonce="c0b2", stale="FALSE", Basic realm="IP Camera(21388)"', 'Digest realm="r2", nonce="n2", algorithm="SHA-256", qop="auth", opaque="o"'])).toEqual([
      { scheme: "digest", realm: "IP Camera(21388)", nonce: "c0b2", stale: false },
      { scheme: "basic", realm: "IP Camera(21388)" },
      { scheme: "digest", realm: "r2", nonce: "n2", algorithm: "SHA-256", qop: "auth", opaque: "o" },
    ]);
    expect(parseChallenges(["Bearer realm=x", "Digest realm=\"no nonce\""])).toEqual([]);
  });

  it("never throws on arbitrary Authorization or WWW-Authenticate text except RtspWireError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom("Digest ", "Basic ").chain((p) => fc.string().map((s) => p + s))), (v) => {
        try {
          parseAuthorization(v);
        } catch (e) {
          expect(e).toBeInstanceOf(RtspWireError);
        }
        expect(Array.isArray(parseChallenges([v]))).toBe(true);
      }),
      fuzzParams(500),
    );
  });
});

describe("splitUrlCredentials", () => {
  it("splits and percent-decodes the userinfo", () => {
    expect(splitUrlCredentials("rtsp://viewer:pa%40ss@127.0.0.1:8554/cam")).toEqual({ url: "rtsp://127.0.0.1:8554/cam", username: "viewer", password: "pa@ss" });
    expect(splitUrlCredentials("rtsp://admin:p@ss:w0rd@10.0.0.5/Streaming/Channels/101?transportmode=unicast")).toEqual({ url: "rtsp://10.0.0.5/Streaming/Channels/101?transportmode=unicast", username: "admin", password: "p@ss:w0rd" });
    expect(splitUrlCredentials("rtsp://user@h/x")).toEqual({ url: "rtsp://h/x", username: "user" });
    expect(splitUrlCredentials("rtsp://u:%E3%81%82%zz@h/x")).toEqual({ url: "rtsp://h/x", username: "u", password: "%E3%81%82%zz" });
    expect(splitUrlCredentials("rtsp://u:%E3%81%82@h/x").password).toBe("あ");
    expect(splitUrlCredentials("rtsp://h:554/x@y")).toEqual({ url: "rtsp://h:554/x@y" });
    expect(splitUrlCredentials("not a url")).toEqual({ url: "not a url" });
  });
});
