import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { exitOrKillWhenDelivered, onlyCancelledWrites } from "../support/gst-launch.js";
import { assemble, decodeErrors, probeStreams, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

let ts: TestServer | undefined;

afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

describe("RTSP publish from GStreamer (rtspclientsink) with AAC", () => {
  it("records H.264 + AAC sent as MP4A-LATM (GStreamer's default payloader for AAC): both tracks decode", async () => {
    // rtspclientsink may close without TEARDOWN (its CLOSE cancels the queued PAUSE): a short grace ends the stream then too.
    ts = await startTestServer({ reconnectGraceMs: 2000 });
    const port = ts.server.rtsp?.port as number;
    const frames = 150;
    const gst = spawn("gst-launch-1.0", ["-q", "-e",
      "videotestsrc", "is-live=true", `num-buffers=${frames}`, "!", "video/x-raw,width=640,height=360,framerate=30/1", "!", "videoconvert", "!", "video/x-raw,format=I420", "!", "x264enc", "tune=zerolatency", "key-int-max=30", "bframes=0", "!", "h264parse", "!", "s.sink_0",
      "audiotestsrc", "is-live=true", "num-buffers=215", "samplesperbuffer=1024", "!", "audio/x-raw,rate=44100,channels=2", "!", "avenc_aac", "!", "aacparse", "!", "s.sink_1",
      "rtspclientsink", "name=s", `location=rtsp://127.0.0.1:${port}/gst-aac`, "protocols=tcp",
    ], { stdio: ["ignore", "ignore", "pipe"] });
    // What the recorder is given, in the order it sees it: audio from the first IDR on. GStreamer
    // sends 215 or 216 AAC frames (avenc_aac drains one more at a clean EOS, not when killed), and
    // the first may arrive before the first IDR: the recording must hold exactly what came after it.
    let audioAfterIdr = 0;
    ts.server.registry.onStarted((live) => {
      let sawIdr = false;
      live.hub.attach("test-audio-count", (f) => {
        if (f.kind === "video" && f.isKeyframe) sawIdr = true;
        else if (f.kind === "audio" && sawIdr) audioAfterIdr++;
      }, 4096);
    });
    let stderr = "";
    gst.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => gst.on("exit", r));
    const registry = ts.server.registry;
    const code = await exitOrKillWhenDelivered(gst, exited, () => (registry.get("gst-aac")?.stats().framesReceived ?? 0) >= frames, { graceMs: 3000, timeoutMs: 40_000 });
    // GStreamer sends PAUSE before TEARDOWN when it ends: the publisher's PAUSE must be answered 200
    // (unless GStreamer cancelled a write itself at EOS: see onlyCancelledWrites, or hung after its
    // last frame and was killed; the stream still ends, every AU recorded).
    if (code !== 0 && code !== "killed") expect(onlyCancelledWrites(stderr), `gst-launch exited ${code}:\n${stderr}`).toBe(true);
    const url = ts.url;
    await waitFor(async () => ((await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: unknown[] }).streams.length === 0, { timeoutMs: 15_000, what: "the stream to end" });
    await ts.server.recorder.flush();
    const [m] = await readManifests(ts.dataDir, "gst-aac");
    const file = await assemble(ts.dataDir, m!);
    const streams = await probeStreams(file);
    expect(m?.inits[0]?.audio).toBe("mp4a.40.2");
    expect(streams.map((s) => [s.codec_type, s.codec_name])).toEqual([["video", "h264"], ["audio", "aac"]]);
    expect((await probeVideoFrames(file)).length).toBe(frames);
    expect(audioAfterIdr).toBeGreaterThanOrEqual(214); // 215 sent, the first may precede the first IDR
    expect(Number(streams[1]?.nb_read_packets)).toBe(audioAfterIdr);
    expect(await decodeErrors(file)).toBe("");
  }, 60_000);
});
