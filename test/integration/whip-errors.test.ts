import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { problemType } from "../../src/errors.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Every bad WHIP input gets its RFC 7807 problem, and none of them harms the publisher that
 * is live meanwhile: it keeps streaming and its recording keeps growing.
 */
let ts: TestServer;
let live: TestStreamPublisher;

const VALID_OFFER_HEAD = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

async function expectProblem(res: Response, status: number, slug: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.type).toBe(problemType(slug));
  expect(body.status).toBe(status);
  expect(typeof body.detail).toBe("string");
  return body;
}

function post(path: string, body: string, contentType = "application/sdp"): Promise<Response> {
  return fetch(`${ts.url}${path}`, { method: "POST", headers: { "content-type": contentType }, body });
}

async function liveFrames(): Promise<number> {
  const res = await fetch(`${ts.url}/api/v1/streams/live1`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { framesReceived: number }).framesReceived;
}

beforeAll(async () => {
  ts = await startTestServer({ whipMaxOfferBytes: 16_384, maxPublishers: 3 });
  live = await publishTestStream(`${ts.url}/whip/live1`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 60, audio: false });
});

afterAll(async () => {
  await live?.stop();
  await ts?.stop();
});

describe("WHIP bad input", () => {
  it("OPTIONS advertises Accept-Post: application/sdp", async () => {
    const res = await fetch(`${ts.url}/whip/cam1`, { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expect(res.headers.get("accept-post")).toBe("application/sdp");
  });

  it("wrong content type → 415", async () => {
    await expectProblem(await post("/whip/cam1", "v=0", "application/json"), 415, "unsupported-media-type");
    await expectProblem(await post("/whip/cam1", "v=0", "text/plain"), 415, "unsupported-media-type");
  });

  it("malformed or codec-less SDP → 400", async () => {
    await expectProblem(await post("/whip/cam1", "not sdp at all"), 400, "invalid-sdp");
    await expectProblem(await post("/whip/cam1", VALID_OFFER_HEAD), 400, "invalid-sdp");
    await expectProblem(await post("/whip/cam1", `${VALID_OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n`), 400, "invalid-sdp");
    await expectProblem(await post("/whip/cam1", ""), 400, "invalid-sdp");
  });

  it("VP8-only offer → 406 naming the accepted codecs", async () => {
    const body = await expectProblem(
      await post("/whip/cam1", `${VALID_OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n`),
      406,
      "unsupported-codec",
    );
    expect(body.detail).toMatch(/H264/);
    expect(body.offered).toEqual(["VP8"]);
  });

  it("stream names outside [A-Za-z0-9_-]{1,64} → 400", async () => {
    for (const name of ["a.b", "x".repeat(65), "caf%C3%A9", "a%20b"]) {
      await expectProblem(await post(`/whip/${name}`, "v=0\r\n"), 400, "invalid-stream-name");
    }
  });

  it("offer over the configured size → 413", async () => {
    await expectProblem(await post("/whip/cam1", `v=0\r\n${"a=x\r\n".repeat(5000)}`), 413, "payload-too-large");
  });

  it("a publisher with other credentials on a live stream name → 409 (the same credentials would take it over)", async () => {
    await ts.server.auth.userStore.add("ada", "admin", "ada-password-1234");
    const login = await fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "ada-password-1234" }) });
    const { access_token } = (await login.json()) as { access_token: string };
    const second = publishTestStream(`${ts.url}/whip/live1`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 5, audio: false, headers: { authorization: `Bearer ${access_token}` } });
    await expect(second).rejects.toThrow(/409/);
  });

  it("unknown session → 404 on PATCH and DELETE", async () => {
    const frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n";
    await expectProblem(
      await fetch(`${ts.url}/whip/live1/sessions/00000000-0000-0000-0000-000000000000`, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body: frag }),
      404,
      "session-not-found",
    );
    await expectProblem(await fetch(`${ts.url}/whip/live1/sessions/nope`, { method: "DELETE" }), 404, "session-not-found");
    // a real session id under another stream name is not found either
    await expectProblem(await fetch(`${ts.url}${live.resourceUrl.replace("/live1/", "/other/")}`, { method: "DELETE" }), 404, "session-not-found");
  });

  it("PATCH with a stale If-Match → 412, with a wrong content type → 415", async () => {
    const url = `${ts.url}${live.resourceUrl}`;
    await expectProblem(await fetch(url, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": '"stale"' }, body: "a=end-of-candidates\r\n" }), 412, "precondition-failed");
    await expectProblem(await fetch(url, { method: "PATCH", headers: { "content-type": "application/sdp" }, body: "a=end-of-candidates\r\n" }), 415, "unsupported-media-type");
  });

  it("unknown routes answer 404 problem+json", async () => {
    await expectProblem(await fetch(`${ts.url}/nope`), 404, "not-found");
  });

  it("offers werift would choke on → 400 invalid-sdp (no a=mid, malformed candidate, `$` in the ufrag)", async () => {
    const good = live.publication.pc.localDescription?.sdp ?? "";
    expect(good).toMatch(/a=mid:0/);
    await expectProblem(await post("/whip/cam9", good.replace(/a=mid:.*\r\n/g, "")), 400, "invalid-sdp");
    await expectProblem(await post("/whip/cam9", good.replace(/a=candidate:[^\r]*/, "a=candidate:garbage")), 400, "invalid-sdp");
    await expectProblem(await post("/whip/cam9", good.replace(/a=ice-ufrag:[^\r]*/, "a=ice-ufrag:ab$'cd")), 400, "invalid-sdp");
  });

  it("PATCHes werift would choke on → 400 invalid-sdpfrag, and the session still takes a good one", async () => {
    const patch = (body: string): Promise<Response> =>
      fetch(`${ts.url}${live.resourceUrl}`, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body });
    const cand = "a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host";
    await expectProblem(await patch(`a=mid:0\r\na=candidate:garbage\r\n`), 400, "invalid-sdpfrag");
    await expectProblem(await patch(`${cand}\r\n`), 400, "invalid-sdpfrag"); // no a=mid
    await expectProblem(await patch(`a=mid:7\r\n${cand}\r\n`), 400, "invalid-sdpfrag"); // not the offer's mid
    // an ICE restart whose credentials carry `$'` (once expanded by String.replace into the offer)
    await expectProblem(await patch("a=ice-ufrag:ab$'cd\r\na=ice-pwd:0123456789012345678901$'\r\na=mid:0\r\n"), 400, "invalid-sdpfrag");
    expect((await patch(`a=mid:0\r\n${cand}\r\na=end-of-candidates\r\n`)).status).toBe(204);
  });

  it("none of it harmed the live publisher or its recording", async () => {
    // it keeps streaming: more frames arrive (whenever the machine gets to them)
    const before = await liveFrames();
    await waitFor(async () => (await liveFrames()) > before + 10, { what: "10 more frames from the live publisher" });
    // (packet loss is not asserted: a datagram a busy machine drops is no harm done by bad input)
    const streams = (await (await fetch(`${ts.url}/api/v1/streams`)).json()) as { streams: { name: string; recording: boolean }[] };
    expect(streams.streams.map((s) => s.name)).toEqual(["live1"]);
    expect(streams.streams[0]?.recording).toBe(true);
    // its recording is listed once its first segment is stored (later on a busy machine)
    type Recs = { recordings: { live: boolean; segments: number }[] };
    let recs: Recs = { recordings: [] };
    await waitFor(async () => {
      recs = (await (await fetch(`${ts.url}/api/v1/recordings?stream=live1`)).json()) as Recs;
      return recs.recordings.length > 0;
    }, { what: "the live publisher's recording listed" });
    expect(recs.recordings.length).toBe(1);
    expect(recs.recordings[0]?.live).toBe(true);
  });
});
