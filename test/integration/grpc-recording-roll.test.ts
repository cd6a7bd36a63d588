import { credentials, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseStack } from "../../src/composition/close-stack.js";
import { buildGrpcControl } from "../../src/composition/grpc.js";
import { loadConfig } from "../../src/config.js";
import { AuthError, type Authenticator } from "../../src/control/auth/authenticator.js";
import { ROLE_PERMISSIONS } from "../../src/control/auth/permissions.js";
import { IngestControlClient, type RecordingState } from "../../src/generated/imageflow/v1/ingest_control.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { bearer, grpcError, unary } from "../support/grpc-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/** StartRecording's pre_roll_ms and StopRecording's post_roll_ms over a real grpc-js client, against a live WHIP stream. */
const BUFFER_MS = 5000;
const operatorOnly: Authenticator = {
  async verifyBearer(token, client) {
    if (token !== "t-operator") throw new AuthError("bad-signature", "token signature does not verify");
    return { kind: "user", subject: "operator", permissions: ROLE_PERMISSIONS.operator, client };
  },
  verifyViewToken: () => Promise.reject(new AuthError("malformed", "not here")),
  login: () => Promise.reject(new AuthError("bad-credentials", "not here")),
  refresh: () => Promise.reject(new AuthError("revoked", "not here")),
  logout: async () => undefined,
  issueViewToken: () => Promise.reject(new Error("not here")),
};

let ts: TestServer;
let pub: TestStreamPublisher | undefined;
let control: IngestControlClient;
const stack = new CloseStack();
const call = (method: string, req: unknown) => unary<RecordingState>(control, method, req, bearer("t-operator"));

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false, streamBufferMs: BUFFER_MS, segmentDurationMs: 1000, partDurationMs: 500 });
  const config = loadConfig({}, { grpcEnabled: true, grpcHost: "127.0.0.1", grpcPort: 0, grpcRateLimitPerMinute: 0, streamBufferMs: BUFFER_MS, authAnonymousNetworks: [] });
  const s = ts.server;
  const server = await buildGrpcControl(config, pino({ level: "silent" }), stack, {
    registry: s.registry, recorder: s.recorder, catalog: s.catalog, clips: s.clips, ingest: s.ingest, ai: undefined, authenticator: operatorOnly, audit: { record: () => undefined },
  });
  if (!server) throw new Error("gRPC disabled");
  control = new IngestControlClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  stack.push("client", () => control.close());
  pub = await publishTestStream(`${ts.url}/whip/roll1`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false, preset: "ultrafast" });
  await waitFor(() => (ts.server.registry.get("roll1")?.hub.buffer.stats.durationMs ?? 0) >= 3000, { timeoutMs: 20_000, what: "3 s in the stream buffer" });
}, 60_000);

afterAll(async () => {
  await stack.close();
  await pub?.stop();
  await ts?.stop();
});

describe("gRPC StartRecording pre_roll_ms / StopRecording post_roll_ms", () => {
  it("refuses a pre-roll beyond IFC_STREAM_BUFFER_MS as INVALID_ARGUMENT naming the limit, and a post-roll beyond its maximum", async () => {
    const err = await grpcError(call("startRecording", { stream: "roll1", tags: {}, preRollMs: BUFFER_MS + 1 }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain("IFC_STREAM_BUFFER_MS");
    expect(ts.server.recorder.isRecording("roll1")).toBe(false);
    const post = await grpcError(call("stopRecording", { stream: "roll1", postRollMs: 3_600_001 }));
    expect(post.code).toBe(status.INVALID_ARGUMENT);
  });

  it("starts from the buffered IDR at or before now − pre_roll_ms, and stops after post_roll_ms", async () => {
    const before = Date.now();
    const started = await call("startRecording", { stream: "roll1", tags: {}, preRollMs: 2000 });
    const after = Date.now();
    expect(started.created).toBe(true);
    expect(started.startedAtMs).toBeLessThanOrEqual(after - 2000);
    expect(started.startedAtMs).toBeGreaterThan(before - 2000 - 2500); // 1 s GOPs; sender-report capture times are noisy
    expect(ts.server.recorder.liveManifest("roll1")?.startedAt).toBe(started.startedAtMs);

    // already recording: the same recording, no pre-roll applied
    const again = await call("startRecording", { stream: "roll1", tags: {}, preRollMs: 1000 });
    expect(again).toMatchObject({ created: false, recordingId: started.recordingId, startedAtMs: started.startedAtMs });

    const stopAsked = Date.now();
    const stopping = await call("stopRecording", { stream: "roll1", postRollMs: 800 });
    expect(stopping).toMatchObject({ recording: true, recordingId: started.recordingId });
    expect(stopping.stopsAtMs).toBeGreaterThanOrEqual(stopAsked + 800);
    expect(ts.server.recorder.isRecording("roll1")).toBe(true);
    await waitFor(() => !ts.server.recorder.isRecording("roll1"), { what: "the post-roll's end" });
    expect(Date.now()).toBeGreaterThanOrEqual(stopAsked + 800);
  });
});
