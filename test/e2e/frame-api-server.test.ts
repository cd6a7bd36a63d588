import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CameraStreamServiceClient, type ProcessedFrame } from "../../src/generated/imageflow/v1/camera_stream.js";
import { jpegWithQr } from "../support/frame-api.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The frame API as the server wires it: CameraStreamService on the control gRPC port and
 * WS /ws/camera-stream, both over the bundled reference worker of the AI feed (anonymous from
 * loopback, the server's default).
 */
describe("frame API on a running server", () => {
  let ts: TestServer;
  let frame: Buffer;
  beforeAll(async () => {
    ts = await startTestServer({ aiEnabled: true, grpcEnabled: true });
    frame = await jpegWithQr("IFC1;wo=FRAME-1");
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it("answers native clients over gRPC with the QR payload, one result per frame", async () => {
    const client = new CameraStreamServiceClient(`127.0.0.1:${ts.server.grpc!.port}`, credentials.createInsecure());
    try {
      const call = client.processVideoStream();
      const got: ProcessedFrame[] = [];
      call.on("data", (f: ProcessedFrame) => got.push(f));
      const ended = new Promise<void>((resolve, reject) => {
        call.on("end", resolve);
        call.on("error", reject);
      });
      // One frame at a time: each waits for its result, so none is dropped for lack of credit.
      for (let i = 0; i < 20; i++) {
        call.write({ frameData: frame, timestampMs: 1_000 + i, metadata: { source_id: "tablet-1" }, streamId: "", sequence: 0, width: 0, height: 0, pixelFormat: 0, modelTier: 0 });
        await waitFor(() => got.filter((g) => g.sequence > 0).length > i, { what: `result ${i + 1}` });
      }
      call.end();
      await ended;
      const results = got.filter((g) => g.sequence > 0);
      expect(results).toHaveLength(20);
      for (const r of results) expect(r.detections.find((d) => d.className === "qr_code")?.attributes.payload).toBe("IFC1;wo=FRAME-1");
    } finally {
      client.close();
    }
  });

  it("answers browsers over WS /ws/camera-stream with processed_frame messages", async () => {
    const ws = new WebSocket(`${ts.url.replace("http", "ws")}/ws/camera-stream`);
    const messages: { type: string; detections?: { class_name: string; attributes?: Record<string, string> }[] }[] = [];
    ws.on("message", (d) => messages.push(JSON.parse(String(d)) as (typeof messages)[number]));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    for (let i = 0; i < 10; i++) {
      ws.send(JSON.stringify({ type: "video_frame", frame_data: frame.toString("base64"), timestamp_ms: 2_000 + i, metadata: { source_id: "browser-1" } }));
      await waitFor(() => messages.filter((m) => m.type === "processed_frame").length > i, { what: `processed_frame ${i + 1}` });
    }
    ws.close();
    const processed = messages.filter((m) => m.type === "processed_frame");
    expect(processed).toHaveLength(10);
    for (const p of processed) expect(p.detections?.find((d) => d.class_name === "qr_code")?.attributes?.payload).toBe("IFC1;wo=FRAME-1");
  });
});
