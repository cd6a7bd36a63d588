import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { problemType } from "../../src/errors.js";
import { icePortsPerSession } from "../../src/rtc/werift-peer.js";
import { whepWatch, WhepHttpError, type WhepViewer } from "../helpers/whep-client.js";
import { whipPublish, type WhipPublication } from "../helpers/whip-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/** Every way a WHEP request can be refused: status, problem type, and the headers that go with it. */
let ts: TestServer;
let pub: WhipPublication;

/** A syntactically fine recvonly offer with the given video codecs (rejected before any ICE). */
function offer(videoCodecs: { pt: number; name: string; fmtp?: string }[], opts: { direction?: string } = {}): string {
  return [
    "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    `m=video 9 UDP/TLS/RTP/SAVPF ${videoCodecs.map((c) => c.pt).join(" ")}`,
    "c=IN IP4 0.0.0.0", "a=mid:0", `a=${opts.direction ?? "recvonly"}`, "a=rtcp-mux",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=setup:actpass",
    "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
    ...videoCodecs.flatMap((c) => [`a=rtpmap:${c.pt} ${c.name}/90000`, ...(c.fmtp ? [`a=fmtp:${c.pt} ${c.fmtp}`] : [])]),
    "",
  ].join("\r\n");
}

async function post(stream: string, body: string, contentType = "application/sdp"): Promise<{ status: number; type: string; detail: string; headers: Headers }> {
  const res = await fetch(`${ts.url}/whep/${stream}`, { method: "POST", headers: { "content-type": contentType }, body });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/problem+json") ? (JSON.parse(text) as { type: string; detail: string }) : { type: "", detail: text };
  return { status: res.status, type: json.type, detail: json.detail, headers: res.headers };
}

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false, aiEnabled: false, whepMaxViewersPerStream: 1, whepMaxViewers: 2, whipMaxOfferBytes: 16_384 });
  // A connected publisher without media is enough: refusals come before any packet.
  pub = await whipPublish(`${ts.url}/whip/cam1`, { video: true, audio: false });
}, 60_000);

afterAll(async () => {
  await pub?.close();
  await ts?.stop();
});

describe("WHEP errors", () => {
  it("OPTIONS advertises POST of application/sdp", async () => {
    const res = await fetch(`${ts.url}/whep/cam1`, { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expect(res.headers.get("accept-post")).toBe("application/sdp");
  });

  it("404 for an unknown stream", async () => {
    const r = await post("nobody", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]));
    expect(r.status).toBe(404);
    expect(r.type).toBe(problemType("stream-not-found"));
  });

  it("400 for an invalid stream name", async () => {
    const r = await post("bad.name", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]));
    expect(r.status).toBe(400);
    expect(r.type).toBe(problemType("invalid-stream-name"));
  });

  it("415 for a body that is not application/sdp", async () => {
    const r = await post("cam1", "{}", "application/json");
    expect(r.status).toBe(415);
    expect(r.type).toBe(problemType("unsupported-media-type"));
  });

  it("400 for malformed or empty SDP, and for an offer that does not receive video", async () => {
    for (const body of ["hello", "v=0\r\nm=video x\r\n", ""]) {
      const r = await post("cam1", body);
      expect(r.status).toBe(400);
      expect(r.type).toBe(problemType("invalid-sdp"));
    }
    const sendonly = await post("cam1", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }], { direction: "sendonly" }));
    expect(sendonly.status).toBe(400);
    expect(sendonly.type).toBe(problemType("invalid-sdp"));
  });

  it("406 naming the codecs for an offer without one we can forward", async () => {
    const vp8 = await post("cam1", offer([{ pt: 96, name: "VP8" }, { pt: 98, name: "VP9" }]));
    expect(vp8.status).toBe(406);
    expect(vp8.type).toBe(problemType("unsupported-codec"));
    expect(vp8.detail).toMatch(/VP8/);
    expect(vp8.detail).toMatch(/H264/);
    // H.264, but only in packetization-mode 0: not forwardable (a poorer profile in mode 1 would
    // be, unless IFC_WHEP_STRICT_PROFILE: test/unit/distributor/whep-viewer-offer.test.ts)
    const cb = await post("cam1", offer([{ pt: 104, name: "H264", fmtp: "packetization-mode=0;profile-level-id=42e01f" }, { pt: 106, name: "H264", fmtp: "profile-level-id=640032" }]));
    expect(cb.status).toBe(406);
    expect(cb.type).toBe(problemType("unsupported-codec"));
    expect(cb.detail).toMatch(/42e01f/);
    expect(cb.detail).toMatch(/packetization-mode=1/);
  });

  it("413 for an oversized offer", async () => {
    const big = offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]) + `a=x-pad:${"x".repeat(20_000)}\r\n`;
    const r = await post("cam1", big);
    expect(r.status).toBe(413);
    expect(r.type).toBe(problemType("payload-too-large"));
  });

  it("503 with Retry-After at the per-stream and the server-wide viewer limits", async () => {
    const viewers: WhepViewer[] = [];
    let pub2: WhipPublication | undefined;
    try {
      viewers.push(await whepWatch(`${ts.url}/whep/cam1`, { audio: false }));
      expect(ts.server.registry.get("cam1")?.hub.viewerCount).toBe(1);
      const second = await whepWatch(`${ts.url}/whep/cam1`, { audio: false }).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(WhepHttpError);
      const perStream = second as WhepHttpError;
      expect(perStream.status).toBe(503);
      expect((JSON.parse(perStream.body) as { type: string }).type).toBe(problemType("too-many-stream-viewers"));
      const again = await post("cam1", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]));
      expect(again.status).toBe(503);
      expect(again.headers.get("retry-after")).toBe("5");

      // server-wide: 2 viewers, the second on another stream, then a third anywhere is refused
      pub2 = await whipPublish(`${ts.url}/whip/cam2`, { video: true, audio: false });
      viewers.push(await whepWatch(`${ts.url}/whep/cam2`, { audio: false }));
      await pub2.close();
      pub2 = undefined;
      // cam2's viewer ended with its stream; wait until it is gone, then fill the server again
      await waitFor(() => ts.server.whep.count === 1);
      const pub3 = await whipPublish(`${ts.url}/whip/cam3`, { video: true, audio: false });
      try {
        viewers.push(await whepWatch(`${ts.url}/whep/cam3`, { audio: false }));
        const r = await post("cam3", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]));
        expect(r.status).toBe(503);
        expect(r.type).toBe(problemType("too-many-viewers"));
        expect(r.headers.get("retry-after")).toBe("5");
      } finally {
        await pub3.close();
      }
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
      await pub2?.close();
    }
  });

  it("PATCH trickles (204), checks If-Match (412) and content type (415); unknown sessions are 404", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: false });
    try {
      const frag = "a=ice-ufrag:zzzz\r\na=ice-pwd:zzzzzzzzzzzzzzzzzzzzzzzz\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n";
      const ufrag = /a=ice-ufrag:(\S+)/.exec(viewer.pc.localDescription?.sdp ?? "")?.[1] ?? "";
      const pwd = /a=ice-pwd:(\S+)/.exec(viewer.pc.localDescription?.sdp ?? "")?.[1] ?? "";
      const trickle = frag.replace("zzzz", ufrag).replace(/a=ice-pwd:z+/, `a=ice-pwd:${pwd}`);
      const ok = await fetch(viewer.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": viewer.etag ?? "*" }, body: trickle });
      expect(ok.status).toBe(204);
      const stale = await fetch(viewer.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": '"stale"' }, body: trickle });
      expect(stale.status).toBe(412);
      expect(((await stale.json()) as { type: string }).type).toBe(problemType("precondition-failed"));
      const wrongType = await fetch(viewer.resourceUrl, { method: "PATCH", headers: { "content-type": "application/sdp" }, body: trickle });
      expect(wrongType.status).toBe(415);
      expect(((await wrongType.json()) as { type: string }).type).toBe(problemType("unsupported-media-type"));
    } finally {
      await viewer.close();
    }
    for (const method of ["PATCH", "DELETE"]) {
      const res = await fetch(`${ts.url}/whep/cam1/sessions/00000000-0000-0000-0000-000000000000`, { method, headers: { "content-type": "application/trickle-ice-sdpfrag" }, body: "a=end-of-candidates\r\n" });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { type: string }).type).toBe(problemType("session-not-found"));
    }
  });

  it("400 for offers werift would choke on: no a=mid, a malformed candidate, `$` in the ufrag", async () => {
    const good = offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=42e01f" }]);
    for (const body of [
      good.replace("a=mid:0\r\n", ""),
      good.replace("a=rtcp-mux", "a=rtcp-mux\r\na=candidate:garbage"),
      good.replace("a=ice-ufrag:abcd", "a=ice-ufrag:ab$'cd"),
    ]) {
      const r = await post("cam1", body);
      expect(r.status, body).toBe(400);
      expect(r.type).toBe(problemType("invalid-sdp"));
    }
  });

  it("400 invalid-sdpfrag for PATCHes werift would choke on, and the viewer stays connected and patchable", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: false });
    try {
      const patch = (body: string): Promise<Response> =>
        fetch(viewer.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body });
      const cand = "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host";
      for (const body of [
        "a=mid:0\r\na=candidate:garbage\r\n",
        `${cand}\r\n`,
        `a=mid:7\r\n${cand}\r\n`,
        "a=ice-ufrag:ab$'cd\r\na=ice-pwd:0123456789012345678901$'\r\na=mid:0\r\n",
      ]) {
        const res = await patch(body);
        expect(res.status, body).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as { type: string }).type).toBe(problemType("invalid-sdpfrag"));
      }
      expect((await patch(`a=mid:0\r\n${cand}\r\n`)).status).toBe(204);
      expect(viewer.pc.connectionState).toBe("connected");
    } finally {
      await viewer.close();
    }
  });

  it("answers an ICE restart PATCH with our new credentials (200, sdpfrag, new ETag)", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: false });
    try {
      const frag = "a=ice-ufrag:newu\r\na=ice-pwd:newpasswordnewpassword12\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n";
      const res = await fetch(viewer.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": viewer.etag ?? "*" }, body: frag });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/trickle-ice-sdpfrag");
      expect(res.headers.get("etag")).not.toBe(viewer.etag);
      const body = await res.text();
      const oldUfrag = /a=ice-ufrag:(\S+)/.exec(viewer.answerSdp)?.[1];
      const newUfrag = /a=ice-ufrag:(\S+)/.exec(body)?.[1];
      expect(newUfrag).toBeDefined();
      expect(newUfrag).not.toBe(oldUfrag);
      expect(body).toMatch(/a=candidate:/);
    } finally {
      await viewer.close();
    }
  });

  it("answers audio inactive when the stream has none, and counts sessions in ifc_whep_ metrics", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: true });
    try {
      const audio = viewer.answerSdp.slice(viewer.answerSdp.indexOf("m=audio"));
      expect(audio).toMatch(/a=inactive/);
      expect(viewer.answerSdp.slice(0, viewer.answerSdp.indexOf("m=audio"))).toMatch(/a=sendonly/);
      await post("nobody", offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]));
      const metrics = await (await fetch(`${ts.url}/metrics`)).text();
      expect(metrics).toMatch(/^ifc_whep_viewers\{stream="cam1"\} 1$/m);
      expect(metrics).toMatch(/^ifc_whep_sessions_total \d+$/m);
      expect(metrics).toMatch(/^ifc_whep_rejected_total\{reason="stream-not-found"\} [1-9]\d*$/m);
    } finally {
      await viewer.close();
    }
  });

  it("DELETE ends a session (200), after which it is unknown", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/cam1`, { audio: false });
    const res = await fetch(viewer.resourceUrl, { method: "DELETE" });
    expect(res.status).toBe(200);
    const again = await fetch(viewer.resourceUrl, { method: "DELETE" });
    expect(again.status).toBe(404);
    await viewer.pc.close();
    expect(ts.server.registry.get("cam1")?.hub.viewerCount).toBe(0);
  });
});


describe("WHEP and the ICE port range", () => {
  it("503 rtc-ports-exhausted once publishers and viewers fill IFC_RTC_PORT_MIN..MAX", async () => {
    // Room for exactly two sessions (a publisher and one viewer); a random base avoids other tests' ranges.
    const perSession = icePortsPerSession(loadConfig({}, { rtcPortMin: 40_000, rtcPortMax: 40_001 }));
    const min = 42_000 + Math.floor(Math.random() * 2000) * 4;
    const server = await startTestServer({ recordByDefault: false, aiEnabled: false, rtcPortMin: min, rtcPortMax: min + 2 * perSession - 1 });
    const pubInRange = await whipPublish(`${server.url}/whip/ranged`, { video: true, audio: false });
    let viewer: WhepViewer | undefined;
    try {
      viewer = await whepWatch(`${server.url}/whep/ranged`, { audio: false });
      const res = await fetch(`${server.url}/whep/ranged`, { method: "POST", headers: { "content-type": "application/sdp" }, body: offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=640032" }]) });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { type: string }).type).toBe(problemType("rtc-ports-exhausted"));
      expect(res.headers.get("retry-after")).toBe("5");
      // The viewer's ports count against publishers too: a second camera does not fit either.
      const pub = await fetch(`${server.url}/whip/ranged2`, { method: "POST", headers: { "content-type": "application/sdp" }, body: offer([{ pt: 102, name: "H264", fmtp: "packetization-mode=1;profile-level-id=42e01f" }], { direction: "sendonly" }) });
      expect(pub.status).toBe(503);
      expect(((await pub.json()) as { type: string }).type).toBe(problemType("rtc-ports-exhausted"));
      // ...until the viewer leaves (DELETE answered once the session is gone) and gives its ports back.
      await viewer.close();
      viewer = undefined;
      expect(server.server.whep.count).toBe(0);
      const later = await whipPublish(`${server.url}/whip/ranged2`, { video: true, audio: false });
      await later.close();
    } finally {
      await viewer?.close();
      await pubInRange.close();
      await server.stop();
    }
  });
});
