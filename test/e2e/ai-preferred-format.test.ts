import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CameraStreamServiceService, PixelFormat, type ProcessedFrame, type VideoFrame } from "../../src/generated/imageflow/v1/camera_stream.js";
import { HealthCheckResponse_ServingStatus } from "../../src/generated/imageflow/v1/common.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * A worker's `demand.preferred_format` (proto/imageflow/v1/camera_stream.proto) switched
 * mid-stream: the feed changes the decoder's output and the frames the worker gets change
 * format. The bundled reference worker reads GRAY8 only, so the worker here is a plain gRPC
 * CameraStreamService that records what it receives and asks for whatever the test sets.
 */
const SERVICE = "imageflow.v1.CameraStreamService";

interface Received { format: PixelFormat; width: number; height: number; data: Buffer }

class FormatAskingWorker {
  private readonly server = new Server();
  private readonly health = new HealthImplementation({ "": "SERVING", [SERVICE]: "SERVING" });
  private port = 0;
  /** The format asked for with every credit from now on. */
  want: PixelFormat = PixelFormat.PIXEL_FORMAT_GRAY8;
  readonly frames: Received[] = [];

  constructor() {
    this.server.addService(CameraStreamServiceService, {
      processVideoStream: (call: ServerDuplexStream<VideoFrame, ProcessedFrame>) => this.handle(call),
      healthCheck: (_call: unknown, cb: (err: null, res: { status: HealthCheckResponse_ServingStatus }) => void) => cb(null, { status: HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING }),
    });
    this.health.addToServer(this.server);
  }

  async listen(): Promise<string> {
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
    return `127.0.0.1:${this.port}`;
  }

  private handle(call: ServerDuplexStream<VideoFrame, ProcessedFrame>): void {
    const reply = (sequence: number, credits: number): void => {
      call.write({ processedData: Buffer.alloc(0), detections: [], processingTimeMs: 0, processingStats: {}, streamId: "", sequence, demand: { credits, preferredFormat: this.want } });
    };
    reply(0, 2);
    call.on("data", (f: VideoFrame) => {
      this.frames.push({ format: f.pixelFormat, width: f.width, height: f.height, data: Buffer.from(f.frameData) });
      reply(f.sequence, 1); // the result and the next credit, with the current preference
    });
    call.on("end", () => call.end());
    call.on("error", () => undefined); // the server cancels the call when it closes
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
  }
}

let ts: TestServer;
let worker: FormatAskingWorker;
let pub: TestStreamPublisher;
const W = 320;
const H = 240;

beforeAll(async () => {
  worker = new FormatAskingWorker();
  const address = await worker.listen();
  ts = await startTestServer({ aiEnabled: true, aiWorkers: [address], recordByDefault: false });
  pub = await publishTestStream(`${ts.url}/whip/fmt`, { width: W, height: H, fps: 30, gopSeconds: 1, durationSeconds: 60, audio: false, preset: "ultrafast", connectTimeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  await pub?.stop();
  await ts?.stop();
  await worker?.close();
});

const isJpeg = (d: Buffer): boolean => d.length > 4 && d[0] === 0xff && d[1] === 0xd8 && d[d.length - 2] === 0xff && d[d.length - 1] === 0xd9;

/** Asks for `format` and waits for `n` frames in it; returns the frames received from the switch on. */
async function switchTo(format: PixelFormat, n: number): Promise<Received[]> {
  const from = worker.frames.length;
  worker.want = format;
  await waitFor(() => worker.frames.slice(from).filter((f) => f.format === format).length >= n, { timeoutMs: 30_000, what: `${n} frames in pixel format ${format}` });
  return worker.frames.slice(from);
}

describe("a worker's preferred_format switch", () => {
  it("starts in GRAY8 (the worker's first preference): one byte per pixel", async () => {
    await waitFor(() => worker.frames.length >= 5, { timeoutMs: 30_000, what: "5 frames at the worker" });
    for (const f of worker.frames.slice(0, 5)) {
      expect(f.format).toBe(PixelFormat.PIXEL_FORMAT_GRAY8);
      expect([f.width, f.height]).toEqual([W, H]);
      expect(f.data.length).toBe(W * H);
    }
  });

  it("switches to JPEG when the worker asks: the frames become JPEG images, and no raw frame comes after the first JPEG", async () => {
    const after = await switchTo(PixelFormat.PIXEL_FORMAT_JPEG, 5);
    const first = after.findIndex((f) => f.format === PixelFormat.PIXEL_FORMAT_JPEG);
    expect(first).toBeGreaterThanOrEqual(0);
    const jpegs = after.slice(first);
    for (const f of jpegs) {
      expect(f.format).toBe(PixelFormat.PIXEL_FORMAT_JPEG);
      expect(isJpeg(f.data)).toBe(true);
      expect([f.width, f.height]).toEqual([W, H]);
    }
    // the frames before the switch took effect were the old format, untouched
    for (const f of after.slice(0, first)) expect(f.data.length).toBe(W * H);
    expect(ts.server.decoders.stats("fmt")?.output?.format).toBe("jpeg");
  });

  it("switches to RGB24 and back to GRAY8: three bytes per pixel, then one", async () => {
    const rgb = await switchTo(PixelFormat.PIXEL_FORMAT_RGB24, 5);
    const firstRgb = rgb.findIndex((f) => f.format === PixelFormat.PIXEL_FORMAT_RGB24);
    for (const f of rgb.slice(firstRgb)) {
      expect(f.format).toBe(PixelFormat.PIXEL_FORMAT_RGB24);
      expect(f.data.length).toBe(W * H * 3);
    }
    expect(ts.server.decoders.stats("fmt")?.output?.format).toBe("rgb24");

    const gray = await switchTo(PixelFormat.PIXEL_FORMAT_GRAY8, 5);
    const firstGray = gray.findIndex((f) => f.format === PixelFormat.PIXEL_FORMAT_GRAY8);
    for (const f of gray.slice(firstGray)) {
      expect(f.format).toBe(PixelFormat.PIXEL_FORMAT_GRAY8);
      expect(f.data.length).toBe(W * H);
    }
    // An RGB24 decoder serves GRAY8 at once (converted in Node); its ffmpeg goes back to GRAY8
    // output at the next IDR.
    await waitFor(() => ts.server.decoders.stats("fmt")?.output?.format === "gray8", { timeoutMs: 15_000, what: "the decoder's output back to gray8" });
  });
});
