import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RTCPeerConnection, RTCRtpCodecParameters, useNACK, usePLI, useREMB } from "werift";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { carriesIdr } from "../helpers/ffmpeg-rtp-source.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { measureWhipConnect } from "../helpers/whip-client.js";
import { startStaticServer, type StaticServer } from "../helpers/static-server.js";
import { disableDefaultStun, stunServersInUse, waitIceGathered } from "../helpers/werift-ice.js";
import { childProcesses } from "../support/process-tree.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Self-test of the test publishers (werift WHIP client + ffmpeg RTP source, and Chromium on the
 * test page) against a tiny WHIP answerer built here on werift, independent of the server.
 */

interface Received {
  packets: number;
  bytes: number;
  seqs: Set<number>;
  timestamps: Set<number>;
  /** RTP timestamps of access units holding an IDR slice. */
  idrTimestamps: Set<number>;
  payloadTypes: Set<number>;
}

interface AnswererSession {
  id: string;
  pc: RTCPeerConnection;
  offerSdp: string;
  answerSdp: string;
  received: { video: Received; audio: Received };
  deleted: boolean;
}

interface Answerer {
  url: string;
  sessions: AnswererSession[];
  close(): Promise<void>;
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, DELETE, PATCH, OPTIONS",
  "access-control-allow-headers": "content-type, authorization, if-match",
  "access-control-expose-headers": "location, etag, link",
};

const emptyReceived = (): Received => ({ packets: 0, bytes: 0, seqs: new Set(), timestamps: new Set(), idrTimestamps: new Set(), payloadTypes: new Set() });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A recvonly WHIP endpoint: POST /whip → 201 + answer, DELETE /whip/<id>; counts what arrives. */
async function startAnswerer(): Promise<Answerer> {
  const sessions: AnswererSession[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (req.method === "OPTIONS") {
      res.writeHead(204, CORS).end();
      return;
    }
    if (req.method === "POST" && path === "/whip") {
      if (!(req.headers["content-type"] ?? "").startsWith("application/sdp")) {
        res.writeHead(415, CORS).end();
        return;
      }
      const offerSdp = await readBody(req);
      const pc = new RTCPeerConnection({
        iceServers: [],
        bundlePolicy: "max-bundle",
        iceUseIpv6: false,
        codecs: {
          video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 96, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: [useNACK(), usePLI(), useREMB()] })],
          audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, parameters: "minptime=10;useinbandfec=1" })],
        },
      });
      const session: AnswererSession = { id: randomUUID(), pc, offerSdp, answerSdp: "", received: { video: emptyReceived(), audio: emptyReceived() }, deleted: false };
      sessions.push(session);
      pc.onTrack.subscribe((track) => {
        const r = track.kind === "video" ? session.received.video : session.received.audio;
        track.onReceiveRtp.subscribe((rtp) => {
          r.packets++;
          r.bytes += rtp.payload.length;
          r.seqs.add(rtp.header.sequenceNumber);
          r.timestamps.add(rtp.header.timestamp);
          r.payloadTypes.add(rtp.header.payloadType);
          if (track.kind === "video" && carriesIdr(rtp.payload)) r.idrTimestamps.add(rtp.header.timestamp);
        });
      });
      await pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
      for (const t of pc.getTransceivers()) t.setDirection("recvonly");
      const answer = await pc.createAnswer();
      disableDefaultStun(pc);
      await pc.setLocalDescription(answer);
      await waitIceGathered(pc);
      session.answerSdp = pc.localDescription?.sdp ?? "";
      res.writeHead(201, { ...CORS, "content-type": "application/sdp", location: `/whip/${session.id}`, etag: `"${session.id}"` });
      res.end(session.answerSdp);
      return;
    }
    const s = req.method === "DELETE" ? sessions.find((x) => path === `/whip/${x.id}`) : undefined;
    if (s) {
      s.deleted = true;
      await s.pc.close();
      res.writeHead(200, CORS).end();
      return;
    }
    res.writeHead(404, CORS).end();
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error("answerer:", err);
      if (!res.headersSent) res.writeHead(500, CORS);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/whip`,
    sessions,
    close: async () => {
      await Promise.all(sessions.map((s) => s.pc.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Payload types an SDP maps to `encoding` in its `kind` m-section. */
function payloadTypesFor(sdp: string, kind: "video" | "audio", encoding: string): number[] {
  const section = sdp.split(/\r?\n(?=m=)/).find((s) => s.startsWith(`m=${kind}`)) ?? "";
  return [...section.matchAll(/^a=rtpmap:(\d+) ([^/\r\n]+)\//gm)].filter((m) => m[2]?.toLowerCase() === encoding.toLowerCase()).map((m) => Number(m[1]));
}

let answerer: Answerer;

beforeAll(async () => {
  answerer = await startAnswerer();
});

afterAll(async () => {
  await answerer?.close();
});

describe("werift WHIP client + ffmpeg RTP source", () => {
  it("sends 3 s of 640x360@30: the answerer gets exactly the frames, keyframes and audio packets counted as sent", async () => {
    const pub = await publishTestStream(answerer.url, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 3, audio: true });
    try {
      const t = pub.timings;
      console.log(`werift → answerer: POST→answer ${t.answerAt - t.postSentAt} ms, →ICE connected ${(t.iceConnectedAt ?? NaN) - t.postSentAt} ms, →connected ${t.connectedAt - t.postSentAt} ms`);
      expect(t.postSentAt).toBeLessThanOrEqual(t.answerAt);
      expect(t.answerAt).toBeLessThanOrEqual(t.connectedAt);
      expect(stunServersInUse(pub.publication.pc)).toEqual([]);
      expect(pub.resourceUrl).toMatch(/^\/whip\//);
      expect(pub.publication.resourceUrl).toBe(new URL(pub.resourceUrl, answerer.url).toString());
      // the offer is H.264 packetization-mode 1 and Opus only
      const offer = answerer.sessions.at(-1)!.offerSdp;
      const videoRtpmaps = [...offer.matchAll(/^a=rtpmap:\d+ ([^/]+)\/90000/gm)].map((m) => m[1]);
      expect(new Set(videoRtpmaps)).toEqual(new Set(["H264"]));
      expect(offer).not.toMatch(/packetization-mode=0/);
      expect(offer).toMatch(/a=rtpmap:\d+ opus\/48000\/2/);
      expect(offer).toMatch(/a=rtcp-fb:\d+ transport-cc/);
      expect(offer).toMatch(/a=rtcp-fb:\d+ goog-remb/);

      await pub.done;
      const session = answerer.sessions.at(-1)!;
      const rx = session.received;
      const s = { ...pub.stats };
      // every packet sent arrives (a timeout here is loss on loopback, named as such)
      await waitFor(() => rx.video.seqs.size >= s.videoPackets && rx.audio.seqs.size >= s.audioPackets, {
        what: `all ${s.videoPackets} video and ${s.audioPackets} audio packets sent to arrive (loss on loopback otherwise)`,
      });
      console.log(`sent ${JSON.stringify(s)}; received video ${rx.video.timestamps.size} AUs / ${rx.video.seqs.size} packets (${rx.video.idrTimestamps.size} IDR), audio ${rx.audio.seqs.size} packets`);

      expect(s.inputGaps).toBe(0);
      expect(s.notSent).toBe(0);
      expect(s.videoFrames).toBeGreaterThanOrEqual(88);
      expect(s.videoFrames).toBeLessThanOrEqual(92);
      expect(s.videoTimestamps).toBe(s.videoFrames);
      expect(s.keyframes).toBe(3);
      // loopback: nothing lost, so what arrived is exactly what was counted as sent
      expect(rx.video.timestamps.size).toBe(s.videoFrames);
      expect(rx.video.seqs.size).toBe(s.videoPackets);
      expect(rx.video.idrTimestamps.size).toBe(s.keyframes);
      expect(s.audioPackets).toBeGreaterThan(100);
      expect(rx.audio.seqs.size).toBe(s.audioPackets);
      // and it arrived under the payload types the answer gave H264 and opus
      const h264 = payloadTypesFor(session.answerSdp, "video", "H264");
      expect([...rx.video.payloadTypes].every((pt) => h264.includes(pt))).toBe(true);
      const opus = payloadTypesFor(session.answerSdp, "audio", "opus");
      expect([...rx.audio.payloadTypes].every((pt) => opus.includes(pt))).toBe(true);
    } finally {
      await pub.stop();
    }
    expect(answerer.sessions.at(-1)!.deleted).toBe(true);
  });

  it("measureWhipConnect: POST → answer → ICE → connected, then DELETE", async () => {
    const m = await measureWhipConnect(answerer.url, { audio: false });
    console.log(`measureWhipConnect: answer ${m.answerMs} ms, connected ${m.connectMs} ms`);
    expect(m.answerMs).toBeGreaterThanOrEqual(0);
    expect(m.connectMs).toBeGreaterThanOrEqual(m.answerMs);
    expect(m.iceConnectedAt).toBeGreaterThanOrEqual(m.answerAt);
    expect(answerer.sessions.at(-1)!.deleted).toBe(true);
    expect(answerer.sessions.at(-1)!.offerSdp).not.toMatch(/m=audio/);
  });

  it("stop() mid-stream ends ffmpeg, and done settles", async () => {
    const pub = await publishTestStream(answerer.url, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false });
    await waitFor(() => pub.stats.videoFrames > 10, { what: "frames flowing" });
    await pub.stop();
    await pub.done;
    const n = pub.stats.videoFrames;
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThan(30 * 30); // ended mid-stream, not at its 30 s
    // no ffmpeg of ours is left to send more
    expect(childProcesses().filter((p) => p.argv.some((a) => a.startsWith("testsrc2=")))).toEqual([]);
    expect(pub.stats.videoFrames).toBe(n);
    expect(answerer.sessions.at(-1)!.deleted).toBe(true);
  });
});

describe("Chromium on the test page", () => {
  let pages: StaticServer;
  let browser: ChromiumHandle;

  beforeAll(async () => {
    pages = await startStaticServer();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
  });

  it("publishes H.264 over WHIP (cross-origin) and reports encoder stats", async () => {
    const before = answerer.sessions.length;
    const page = await browser.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") console.log(`page: ${m.text()}`);
    });
    await page.goto(pages.pageUrl("whip-publish.html", { whip: answerer.url, video: "1", audio: "1" }));
    const state = await page
      .waitForFunction(
        () => {
          const w = (globalThis as unknown as { __whip?: { state: string } }).__whip;
          return w && (w.state === "connected" || w.state === "failed") ? w.state : undefined;
        },
        undefined,
        { timeout: 20_000 },
      )
      .then((h) => h.jsonValue());
    const info = await page.evaluate(() => {
      const w = (globalThis as unknown as { __whip: { error: string | null; resourceUrl: string | null; postSentAt: number; answerAt: number; connectedAt: number } }).__whip;
      return { error: w.error, resourceUrl: w.resourceUrl, postSentAt: w.postSentAt, answerAt: w.answerAt, connectedAt: w.connectedAt };
    });
    expect(info.error).toBeNull();
    expect(state).toBe("connected");
    console.log(`Chromium → answerer: POST→answer ${info.answerAt - info.postSentAt} ms, POST→connected ${info.connectedAt - info.postSentAt} ms`);
    expect(answerer.sessions.length).toBe(before + 1);
    const session = answerer.sessions.at(-1)!;
    expect(info.resourceUrl).toBe(new URL(`/whip/${session.id}`, answerer.url).toString());

    // the offer carried H.264 (packetization-mode 1) and nothing else for video
    const offered = [...session.offerSdp.matchAll(/^a=rtpmap:\d+ ([^/]+)\/90000/gm)].map((m) => m[1]);
    expect(new Set(offered)).toEqual(new Set(["H264"]));
    expect(session.offerSdp).not.toMatch(/packetization-mode=0/);

    const rx0 = session.received;
    await waitFor(() => rx0.video.timestamps.size > 30 && rx0.video.idrTimestamps.size > 0 && rx0.audio.packets > 0, { timeoutMs: 20_000, what: "a second of Chromium's video and some audio" });
    const stats = await page.evaluate(() => (globalThis as unknown as { __whip: { stats(): Promise<Record<string, unknown>> } }).__whip.stats());
    const rx = session.received;
    console.log(`Chromium page stats ${JSON.stringify(stats)}; answerer got video ${rx.video.timestamps.size} AUs / ${rx.video.packets} packets PT ${[...rx.video.payloadTypes].join(",")}, audio ${rx.audio.packets} packets`);
    expect(Number(stats.framesEncoded)).toBeGreaterThan(0);
    expect(stats.mimeType).toBe("video/H264");
    expect(rx.video.timestamps.size).toBeGreaterThan(30);
    expect(rx.video.idrTimestamps.size).toBeGreaterThan(0);
    const h264 = payloadTypesFor(session.answerSdp, "video", "H264");
    expect(h264.length).toBeGreaterThan(0);
    expect([...rx.video.payloadTypes].every((pt) => h264.includes(pt))).toBe(true);
    expect(rx.audio.packets).toBeGreaterThan(0);

    await page.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
    expect(session.deleted).toBe(true);
    await page.close();
  });
});
