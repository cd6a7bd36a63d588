import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { problemType } from "../../src/errors.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { whipPublish, type WhipPublication } from "../helpers/whip-client.js";
import { fuzzParams, mutatedLines } from "../support/fuzz.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * Property-based bad input through the real server's Fastify app (`inject`: no sockets, so it is
 * quick): no time or query parameter, and no WHIP/WHEP offer or PATCH body, yields a 5xx or an
 * unhandled rejection. Every refusal is problem+json.
 */
let ts: TestServer;
let app: FastifyInstance;
let pub: WhipPublication;
let viewer: WhepViewer;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  ts = await startTestServer({ recordByDefault: false, aiEnabled: false, maxPublishers: 8, whepMaxViewers: 8 });
  app = ts.server.app;
  // A connected publisher (no media needed) and a viewer: PATCHes reach real werift sessions.
  pub = await whipPublish(`${ts.url}/whip/cam1`, { video: true, audio: false });
  viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: false });
}, 60_000);

afterAll(async () => {
  await viewer?.close();
  await pub?.close();
  await ts?.stop();
  process.off("unhandledRejection", onUnhandled);
});

/** Fails the property on a 5xx, or on a refusal that is not problem+json; returns the status. */
async function send(opts: { method: "GET" | "POST" | "PATCH"; url: string; body?: string | object; contentType?: string }): Promise<number> {
  const res = await app.inject({
    method: opts.method,
    url: opts.url,
    ...(opts.body !== undefined ? { payload: opts.body } : {}),
    ...(opts.contentType ? { headers: { "content-type": opts.contentType } } : {}),
  });
  if (res.statusCode >= 500) throw new Error(`${opts.method} ${opts.url} → ${res.statusCode}: ${res.body.slice(0, 300)}`);
  if (res.statusCode >= 400) expect(res.headers["content-type"], `${opts.method} ${opts.url}`).toMatch(/^application\/problem\+json/);
  return res.statusCode;
}

/** Time-like strings: what users type, what Date.parse is lenient about, and noise. */
const timeLike = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.stringMatching(/^[-+ .0-9eE:TZ]{0,24}$/),
  fc.integer().map(String),
  fc.double().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("-5", "1 2 3", "99999999999999999999", "yesterday", "2000-01-01T00:00:00", "1e21", "", "0", "253402300800000"),
);
/** A query string of the parameters that are present, each URL-encoded. */
const query = (params: [string, string | undefined][]): string =>
  params.flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${encodeURIComponent(v)}`])).join("&");
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

describe("fuzz: time and query parameters never yield a 5xx", () => {
  it("GET /api/v1/recordings and /api/v1/clips (stream, from, to, tag)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/api/v1/recordings", "/api/v1/clips"), opt(fc.string({ unit: "grapheme", maxLength: 70 })), opt(timeLike), opt(timeLike), fc.array(fc.string({ unit: "grapheme", maxLength: 20 }), { maxLength: 3 }),
        async (path, stream, from, to, tags) => {
          await send({ method: "GET", url: `${path}?${query([["stream", stream], ["from", from], ["to", to], ...tags.map((t): [string, string] => ["tag", t])])}` });
        }),
      fuzzParams(200),
    );
  });

  it("GET /api/v1/recordings/{s}/play and /hls/{s}/vod.m3u8 (start, duration)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/api/v1/recordings/cam1/play", "/hls/cam1/vod.m3u8"), opt(timeLike), opt(fc.oneof(timeLike, fc.double().map(String))),
        async (path, start, duration) => {
          await send({ method: "GET", url: `${path}?${query([["start", start], ["duration", duration]])}` });
        }),
      fuzzParams(200),
    );
  });

  it("GET /hls/{s}/index.m3u8 blocking-reload directives (_HLS_msn, _HLS_part, _HLS_skip)", async () => {
    const directive = opt(fc.oneof(fc.string({ unit: "grapheme", maxLength: 20 }), fc.nat().map(String), fc.integer().map(String), fc.constantFrom("YES", "v2", "1e3", "99999999999999999999")));
    await fc.assert(
      fc.asyncProperty(directive, directive, directive, async (msn, part, skip) => {
        await send({ method: "GET", url: `/hls/cam1/index.m3u8?${query([["_HLS_msn", msn], ["_HLS_part", part], ["_HLS_skip", skip]])}` });
      }),
      fuzzParams(150),
    );
  });

  it("any stream name in a path (encoded) on the stream routes", async () => {
    const routes = ["/api/v1/streams/{s}", "/api/v1/streams/{s}/ai", "/hls/{s}/index.m3u8", "/api/v1/recordings/{s}/play?start=0&duration=1", "/hls/{s}/vod.m3u8?start=0&duration=1", "/streams/{s}"];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.string({ unit: "grapheme", minLength: 1, maxLength: 80 }), async (route, name) => {
        await send({ method: "GET", url: route.replace("{s}", encodeURIComponent(name)) });
      }),
      fuzzParams(200),
    );
  });

  it("POST /api/v1/streams/{s}/clips with any from/to (strings, numbers, other JSON)", async () => {
    const value = fc.oneof(timeLike, fc.double(), fc.integer(), fc.constant(null), fc.boolean(), fc.constant(1e20));
    await fc.assert(
      fc.asyncProperty(opt(value), opt(value), async (from, to) => {
        const body = { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
        await send({ method: "POST", url: "/api/v1/streams/cam1/clips", body: JSON.stringify(body), contentType: "application/json" });
      }),
      fuzzParams(200),
    );
  });

  it("a clip whose `to` is a huge epoch-ms number is a 400 invalid-time, and the listing stays whole", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/streams/cam1/clips", payload: { from: Date.now() - 5000, to: "99999999999999999999" } });
    expect(res.statusCode).toBe(400);
    expect(res.json().type).toBe(problemType("invalid-time"));
    expect((await app.inject({ method: "GET", url: "/api/v1/clips" })).statusCode).toBe(200);
    const backwards = await app.inject({ method: "GET", url: "/api/v1/clips?from=5&to=1" });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().type).toBe(problemType("invalid-range"));
  });

  it("the same rule on every route: start=-5 and start=1 2 3 are invalid-time, from=5&to=1 is invalid-range", async () => {
    const expectProblem = async (url: string, slug: string): Promise<void> => {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().type, url).toBe(problemType(slug));
    };
    for (const start of ["-5", "1 2 3", "99999999999999999999"]) {
      await expectProblem(`/api/v1/recordings/cam1/play?start=${encodeURIComponent(start)}&duration=5`, "invalid-time");
      await expectProblem(`/hls/cam1/vod.m3u8?start=${encodeURIComponent(start)}&duration=5`, "invalid-time");
      await expectProblem(`/api/v1/recordings?from=${encodeURIComponent(start)}`, "invalid-time");
      await expectProblem(`/api/v1/clips?to=${encodeURIComponent(start)}`, "invalid-time");
    }
    await expectProblem("/api/v1/recordings?from=5&to=1", "invalid-range");
    await expectProblem("/api/v1/clips?from=5&to=1", "invalid-range");
    const clip = await app.inject({ method: "POST", url: "/api/v1/streams/cam1/clips", payload: { from: 5, to: 1 } });
    expect(clip.json().type).toBe(problemType("invalid-range"));
  });
});

/** SDP-ish lines: real attributes with noise, `$` patterns and broken numbers. */
const sdpLine = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.tuple(fc.constantFrom("a=mid:", "a=candidate:", "a=ice-ufrag:", "a=ice-pwd:", "m=video 9 UDP/TLS/RTP/SAVPF ", "a=rtpmap:", "a=fmtp:", "a=group:BUNDLE ", "a=end-of-candidates"), fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom("0", "1", "7", "$'", "1 1 udp 2122260223 127.0.0.1 9 typ host", "garbage", "96 H264/90000", "96 packetization-mode=1", "abcd", "0123456789012345678901", "ab$'cd"),
  )).map(([a, b]) => a + b),
);

describe("fuzz: WHIP and WHEP bodies never yield a 5xx", () => {
  const offerOf = (lines: string[]): string => `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${lines.join("\r\n")}\r\n`;

  it("POST offers to /whip and /whep: noise, and mutations of a real offer (a session made by accident is deleted at once)", async () => {
    const real = (pub.pc.localDescription?.sdp ?? "").split("\r\n").filter(Boolean);
    const recvonly = real.map((l) => (l === "a=sendonly" ? "a=recvonly" : l));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/whip/fuzz1", "/whep/cam1"), fc.oneof(fc.array(sdpLine, { maxLength: 12 }).map(offerOf), mutatedLines(real), mutatedLines(recvonly)), async (url, offer) => {
        const res = await app.inject({ method: "POST", url, payload: offer, headers: { "content-type": "application/sdp" } });
        if (res.statusCode >= 500) throw new Error(`POST ${url} → ${res.statusCode}: ${res.body.slice(0, 300)}`);
        if (res.statusCode === 201) await app.inject({ method: "DELETE", url: String(res.headers.location) });
        else expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      }),
      fuzzParams(150),
    );
  });

  it("PATCH fragments to a live WHIP session and a live WHEP session: noise, and mutations of a real fragment", async () => {
    const urls = [pub.resourceUrl, viewer.resourceUrl].map((u) => new URL(u).pathname);
    const frag = ["a=mid:0", "a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host generation 0", "a=end-of-candidates"];
    const restart = ["a=ice-ufrag:Fuzz", "a=ice-pwd:fuzzfuzzfuzzfuzzfuzzfuzz", "m=video 9 UDP/TLS/RTP/SAVPF 0", ...frag];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...urls), fc.oneof(fc.array(sdpLine, { maxLength: 8 }).map((l) => `${l.join("\r\n")}\r\n`), mutatedLines(frag), mutatedLines(restart)), async (url, body) => {
        const status = await send({ method: "PATCH", url, body, contentType: "application/trickle-ice-sdpfrag" });
        expect([200, 204, 400, 404]).toContain(status);
      }),
      fuzzParams(150),
    );
  });

  it("left no unhandled rejection behind", () => {
    expect(unhandled).toEqual([]);
  });
});
