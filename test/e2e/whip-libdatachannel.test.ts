import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { problemType } from "../../src/errors.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { connectMs } from "../helpers/whip-client.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { assemble, decodeErrors, probeStreams, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { waitForValue } from "../support/wait-for.js";

/**
 * The opt-in libdatachannel WHIP ingest (IFC_RTC_INGEST_TRANSPORT=libdatachannel) with the
 * project's werift publisher: the same media path as werift's, so the recording must hold every
 * frame sent and decode cleanly. ICE restart is refused with 422 and the session carries on.
 */
let proc: ServerProcess | undefined;
let pub: TestStreamPublisher | undefined;
afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  if (proc && proc.child.exitCode === null) {
    proc.child.kill("SIGTERM");
    await proc.exited;
  }
  if (proc) await rm(proc.dataDir, { recursive: true, force: true });
});

describe("WHIP ingest on libdatachannel", () => {
  it("records every frame a werift publisher sends, refuses an ICE restart with 422, and the server exits cleanly", async () => {
    proc = await spawnServer({ IFC_RTC_INGEST_TRANSPORT: "libdatachannel", IFC_RTC_INTERFACE_ADDRESS: "127.0.0.1" });
    const url = proc.url;
    pub = await publishTestStream(`${url}/whip/ldc`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 4, audio: true });
    // The answer is libdatachannel's (its SDP origin), with only the selected codecs and no nack.
    const answer = pub.publication.answerSdp;
    expect(answer).toMatch(/^o=rtc /m);
    expect(answer.match(/^m=video \S+ \S+ (.*)$/m)?.[1]?.trim().split(" ")).toHaveLength(1);
    expect(answer).not.toMatch(/^a=rtcp-fb:\d+ nack\r?$/m);
    expect(answer).toMatch(/^a=rtcp-fb:\d+ nack pli/m);
    console.log(`libdatachannel WHIP: POST->answer ${pub.timings.answerAt - pub.timings.postSentAt} ms, POST->connected ${connectMs(pub.timings)} ms`);

    // ICE restart (new credentials) is not supported on this transport: 422 problem, session untouched.
    const res = await fetch(pub.publication.resourceUrl, {
      method: "PATCH",
      headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": "*" },
      body: "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n",
    });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(((await res.json()) as { type: string }).type).toBe(problemType("ice-restart-unsupported"));

    await pub.done;
    await expectNoIngestLoss(url, "ldc", pub.stats);
    const sent = pub.stats.videoFrames;
    const stats = (await (await fetch(`${url}/api/v1/streams/ldc`)).json()) as { framesReceived: number; keyframeRequests: number };
    expect(stats.framesReceived).toBe(sent);
    await pub.stop(); // DELETE closes the session and the stream
    pub = undefined;
    const m = await waitForValue(async () => {
      const [manifest] = await readManifests(proc!.dataDir, "ldc");
      return manifest?.endedAt ? manifest : undefined;
    }, { timeoutMs: 15_000, what: "the recording closed" });
    const file = await assemble(proc.dataDir, m);
    expect((await probeVideoFrames(file)).length).toBe(sent);
    expect((await probeStreams(file)).map((s) => s.codec_name).sort()).toEqual(["h264", "opus"]);
    expect(await decodeErrors(file)).toBe("");
    expect(proc.output()).toMatch(/"msg":"publisher session ended"/);

    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
