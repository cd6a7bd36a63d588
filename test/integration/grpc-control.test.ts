import { credentials, status, type ClientReadableStream } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CloseStack } from "../../src/composition/close-stack.js";
import { buildGrpcControl, type GrpcControlDeps } from "../../src/composition/grpc.js";
import { loadConfig, type Config } from "../../src/config.js";
import { AuthError, type Authenticator, type TokenPair } from "../../src/control/auth/authenticator.js";
import { ROLE_PERMISSIONS } from "../../src/control/auth/permissions.js";
import type { AuditEntry } from "../../src/control/auth/principal.js";
import type { GrpcControlServer } from "../../src/control/grpc/grpc-control-server.js";
import {
  AuthServiceClient,
  IngestControlClient,
  StreamEventType,
  type AiStatus,
  type Clip,
  type DeleteClipResponse,
  type KickStreamResponse,
  type ListClipsResponse,
  type ListRecordingsResponse,
  type ListStreamsResponse,
  type RecordingState,
  type SetRecordingTagsResponse,
  type StreamEvent,
  type StreamInfo,
  type TokenResponse,
  QosPreset,
} from "../../src/generated/imageflow/v1/ingest_control.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { whipPublish, type WhipPublication } from "../helpers/whip-client.js";
import { bearer, grpcError, unary } from "../support/grpc-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";
import { startFeed } from "../unit/extractor/ai-feed-harness.js";
import { SEGMENT_MS, storeRecording } from "../unit/recorder/stored-recordings.js";

/**
 * The gRPC control API against the real server's services (registry, WHIP ingest, recorder,
 * catalog, clip service) with a real grpc-js client from the generated code. The Authenticator
 * is a small fake of the interface (the token service is another module); everything after it
 * (permissions, scopes, rate limit, audit, errors) is the real thing.
 */
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);

const TOKENS: Record<string, readonly string[]> = {
  "t-admin": ROLE_PERMISSIONS.admin,
  "t-operator": ROLE_PERMISSIONS.operator,
  "t-viewer": ROLE_PERMISSIONS.viewer,
  // Scoped to other streams only.
  "t-other": ["stream:view:other-*", "stream:control:other-*", "recording:view:other-*"],
};

const fakeAuth: Authenticator = {
  async verifyBearer(token, client) {
    const permissions = TOKENS[token];
    if (!permissions) throw new AuthError("bad-signature", "token signature does not verify");
    return { kind: "user", subject: token.slice(2), permissions, client };
  },
  verifyViewToken: () => Promise.reject(new AuthError("malformed", "not here")),
  async login(username, password): Promise<TokenPair> {
    if (username === "alice" && password === "right") return { access_token: "t-operator", refresh_token: "r-1", token_type: "Bearer", expires_in: 28_800 };
    throw new AuthError("bad-credentials", "wrong user name or password");
  },
  async refresh(refreshToken): Promise<TokenPair> {
    if (refreshToken === "r-1") return { access_token: "t-operator", refresh_token: "r-2", token_type: "Bearer", expires_in: 28_800 };
    throw new AuthError("revoked", "refresh token already used");
  },
  logout: async () => undefined,
  issueViewToken: () => Promise.reject(new Error("not here")),
};

const silent = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "silent" });
let ts: TestServer;
const stacks: CloseStack[] = [];

interface Grpc {
  server: GrpcControlServer;
  control: IngestControlClient;
  auth: AuthServiceClient;
  audit: AuditEntry[];
}

async function grpcOver(overrides: Partial<Config>, deps: Partial<GrpcControlDeps> = {}): Promise<Grpc> {
  const config = loadConfig({}, { grpcEnabled: true, grpcHost: "127.0.0.1", grpcPort: 0, grpcRateLimitPerMinute: 0, maxTags: 4, ...overrides });
  const stack = new CloseStack();
  stacks.push(stack);
  const audit: AuditEntry[] = [];
  const s = ts.server;
  const server = await buildGrpcControl(config, silent, stack, {
    registry: s.registry, recorder: s.recorder, catalog: s.catalog, clips: s.clips, ingest: s.ingest, ai: undefined,
    authenticator: fakeAuth, audit: { record: (e) => audit.push(e) }, ...deps,
  });
  if (!server) throw new Error("gRPC disabled");
  const control = new IngestControlClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const auth = new AuthServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  stack.push("clients", () => {
    control.close();
    auth.close();
  });
  return { server, control, auth, audit };
}

/** A WatchStreams call collecting its events. */
function watch(g: Grpc, token: string, req: { streams?: string[]; includeCurrent?: boolean } = {}): { events: StreamEvent[]; call: ClientReadableStream<StreamEvent>; opened: Promise<void> } {
  const events: StreamEvent[] = [];
  const call = g.control.watchStreams({ streams: req.streams ?? [], includeCurrent: req.includeCurrent ?? false }, bearer(token));
  call.on("data", (e: StreamEvent) => events.push(e));
  call.on("error", () => undefined); // cancelled at the end of the test
  const opened = new Promise<void>((resolve) => call.once("metadata", () => resolve()));
  return { events, call, opened };
}

const eventOf = (events: StreamEvent[], type: StreamEventType, stream: string) => events.find((e) => e.type === type && e.stream === stream);

beforeAll(async () => {
  // retentionMinutes 0: the stored recordings (from T0, in the past) stay while the tests run.
  ts = await startTestServer({ recordByDefault: false, retentionMinutes: 0, maxTags: 4, segmentDurationMs: 1000, partDurationMs: 500 });
  await storeRecording(ts.server.store, "cam1", "rec1", T0, 4, 1000);
  await storeRecording(ts.server.store, "other-1", "rec2", T0, 2, 1000);
});

afterAll(async () => {
  for (const s of stacks.splice(0)) await s.close();
  await ts?.stop();
});

describe("IngestControl against a live stream (anonymous access off)", () => {
  let g: Grpc;
  let pub: WhipPublication | undefined;
  beforeAll(async () => {
    g = await grpcOver({ authAnonymousNetworks: [] });
  });
  afterEach(async () => {
    await pub?.close();
    pub = undefined;
  });

  it("every method's happy path, each state change seen on WatchStreams and in the audit trail", async () => {
    const w = watch(g, "t-admin");
    await w.opened;
    pub = await whipPublish(`${ts.url}/whip/live1`, { audio: false });
    await waitFor(() => eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, "live1") !== undefined, { what: "PUBLISHED event" });
    expect(eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, "live1")?.protocol).toBe("whip");

    const list = await unary<ListStreamsResponse>(g.control, "listStreams", {}, "t-viewer");
    expect(list.streams.map((s) => s.name)).toEqual(["live1"]);
    // The session id is a session's only credential: never listed.
    expect(JSON.stringify(list)).not.toContain(ts.server.registry.get("live1")?.sessionId);
    const one = await unary<StreamInfo>(g.control, "getStream", { stream: "live1" }, "t-viewer");
    expect(one).toMatchObject({ name: "live1", protocol: "whip", state: "live", recording: false });

    const started = await unary<RecordingState>(g.control, "startRecording", { stream: "live1", tags: { line: "1" } }, "t-operator");
    expect(started).toMatchObject({ stream: "live1", recording: true, created: true });
    const again = await unary<RecordingState>(g.control, "startRecording", { stream: "live1", tags: { shift: "a" } }, "t-operator");
    expect(again).toMatchObject({ recordingId: started.recordingId, created: false });
    const tagged = await unary<SetRecordingTagsResponse>(g.control, "setRecordingTags", { stream: "live1", recordingId: started.recordingId, tags: { lot: "42" } }, "t-operator");
    expect(tagged.tags).toEqual({ line: "1", shift: "a", lot: "42" });
    const stopped = await unary<RecordingState>(g.control, "stopRecording", { stream: "live1" }, "t-operator");
    expect(stopped).toMatchObject({ stream: "live1", recording: false });
    await waitFor(() => eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_RECORDING_STOPPED, "live1") !== undefined, { what: "RECORDING_STOPPED event" });
    expect(eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_RECORDING_STARTED, "live1")?.recordingId).toBe(started.recordingId);

    const recs = await unary<ListRecordingsResponse>(g.control, "listRecordings", { stream: "cam1", tags: {} }, "t-viewer");
    expect(recs.recordings.map((r) => r.recordingId)).toEqual(["rec1"]);
    expect(recs.recordings[0]).toMatchObject({ stream: "cam1", segments: 4, live: false, startMs: T0 });

    const clip = await unary<Clip>(g.control, "createClip", { stream: "cam1", from: String(T0), to: String(T0 + 2 * SEGMENT_MS), tags: { why: "qa" } }, "t-operator");
    expect(clip).toMatchObject({ stream: "cam1", sourceRecordingId: "rec1", tags: { why: "qa" } });
    await waitFor(() => eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_CLIP_EXPORTED, "cam1") !== undefined, { what: "CLIP_EXPORTED event" });
    expect(eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_CLIP_EXPORTED, "cam1")?.clipId).toBe(clip.id);
    const clips = await unary<ListClipsResponse>(g.control, "listClips", { tags: {} }, "t-viewer");
    expect(clips.clips.map((c) => c.id)).toEqual([clip.id]);
    expect(await unary<DeleteClipResponse>(g.control, "deleteClip", { id: clip.id }, "t-operator")).toEqual({ id: clip.id, deleted: true });
    expect((await unary<ListClipsResponse>(g.control, "listClips", { tags: {} }, "t-viewer")).clips).toEqual([]);

    expect(await unary<KickStreamResponse>(g.control, "kickStream", { stream: "live1" }, "t-operator")).toEqual({ stream: "live1", kicked: true });
    await waitFor(() => eventOf(w.events, StreamEventType.STREAM_EVENT_TYPE_UNPUBLISHED, "live1") !== undefined, { what: "UNPUBLISHED event" });
    expect((await grpcError(unary(g.control, "getStream", { stream: "live1" }, "t-viewer"))).code).toBe(status.NOT_FOUND);
    expect(ts.server.registry.get("live1")).toBeUndefined();

    expect(g.audit.map((a) => [a.action, a.who, a.target, a.via])).toEqual([
      ["recording.started", "operator", "live1", "grpc"],
      ["recording.tagged", "operator", "live1", "grpc"],
      ["recording.tagged", "operator", "live1", "grpc"],
      ["recording.stopped", "operator", "live1", "grpc"],
      ["clip.exported", "operator", clip.id, "grpc"],
      ["clip.deleted", "operator", clip.id, "grpc"],
      ["stream.kicked", "operator", "live1", "grpc"],
    ]);
    expect(g.audit.every((a) => a.from === "127.0.0.1")).toBe(true);
    w.call.cancel();
  });

  it("UNAUTHENTICATED without credentials (anonymous off), with a bad token, with a malformed header", async () => {
    const none = await grpcError(unary(g.control, "listStreams", {}));
    expect(none.code).toBe(status.UNAUTHENTICATED);
    expect(none.details).toMatch(/Bearer/);
    expect((await grpcError(unary(g.control, "listStreams", {}, "t-forged"))).code).toBe(status.UNAUTHENTICATED);
    const md = bearer();
    md.set("authorization", "Basic YWxpY2U6cmlnaHQ=");
    expect((await grpcError(unary(g.control, "listStreams", {}, md))).code).toBe(status.UNAUTHENTICATED);
    const w = g.control.watchStreams({ streams: [], includeCurrent: true });
    const err = await new Promise<{ code: number }>((resolve) => w.on("error", resolve));
    expect(err.code).toBe(status.UNAUTHENTICATED);
  });

  it("PERMISSION_DENIED: a viewer kicking, a token scoped to other streams; listings are filtered by scope", async () => {
    pub = await whipPublish(`${ts.url}/whip/live2`, { audio: false });
    await waitFor(() => ts.server.registry.get("live2") !== undefined, { what: "live2 live" });
    const kick = await grpcError(unary(g.control, "kickStream", { stream: "live2" }, "t-viewer"));
    expect(kick.code).toBe(status.PERMISSION_DENIED);
    expect(kick.details).toMatch(/stream:control/);
    expect(ts.server.registry.get("live2")).toBeDefined();
    expect((await grpcError(unary(g.control, "getStream", { stream: "live2" }, "t-other"))).code).toBe(status.PERMISSION_DENIED);
    expect((await grpcError(unary(g.control, "kickStream", { stream: "live2" }, "t-other"))).code).toBe(status.PERMISSION_DENIED);
    // Not granted at all (no recording:control, no system:admin) and scope-filtered listings.
    expect((await grpcError(unary(g.control, "startRecording", { stream: "other-1", tags: {} }, "t-other"))).code).toBe(status.PERMISSION_DENIED);
    expect((await unary<ListStreamsResponse>(g.control, "listStreams", {}, "t-other")).streams).toEqual([]);
    expect((await unary<ListStreamsResponse>(g.control, "listStreams", {}, "t-admin")).streams.map((s) => s.name)).toEqual(["live2"]);
    const recs = await unary<ListRecordingsResponse>(g.control, "listRecordings", { tags: {} }, "t-other");
    expect(recs.recordings.map((r) => r.stream)).toEqual(["other-1"]);
    expect((await grpcError(unary(g.control, "listRecordings", { stream: "cam1", tags: {} }, "t-other"))).code).toBe(status.PERMISSION_DENIED);
    expect((await grpcError(unary(g.control, "listClips", { stream: "cam1", tags: {} }, "t-other"))).code).toBe(status.PERMISSION_DENIED);
    const outOfScope = g.control.watchStreams({ streams: ["live2"], includeCurrent: false }, bearer("t-other"));
    expect((await new Promise<{ code: number }>((resolve) => outOfScope.on("error", resolve))).code).toBe(status.PERMISSION_DENIED);
    // A watcher scoped to other streams gets no snapshot of live2; an admin does.
    const scoped = watch(g, "t-other", { includeCurrent: true });
    const admin = watch(g, "t-admin", { includeCurrent: true });
    await Promise.all([scoped.opened, admin.opened]);
    await waitFor(() => admin.events.length === 1, { what: "admin snapshot" });
    expect(admin.events[0]).toMatchObject({ type: StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, stream: "live2", snapshot: true });
    // A stream in its scope does reach it (and, on the same call, after any snapshot it was sent).
    const other = await whipPublish(`${ts.url}/whip/other-2`, { audio: false });
    try {
      await waitFor(() => scoped.events.length > 0, { what: "the scoped watcher's first event" });
      expect(scoped.events.map((e) => [e.type, e.stream, e.snapshot])).toEqual([[StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, "other-2", false]]);
    } finally {
      await other.close();
    }
    scoped.call.cancel();
    admin.call.cancel();
  });

  it("INVALID_ARGUMENT for a bad stream name, bad tags or a bad span; NOT_FOUND and FAILED_PRECONDITION name the problem type", async () => {
    const bad = await grpcError(unary(g.control, "getStream", { stream: "bad.name" }, "t-admin"));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/stream name/);
    expect(bad.metadata.get("problem-type")).toEqual(["urn:imageflowcanvas:problem:invalid-stream-name"]);
    expect((await grpcError(unary(g.control, "listRecordings", { stream: "../x", tags: {} }, "t-admin"))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(g.control, "createClip", { stream: "cam1", from: "yesterday", to: String(T0), tags: {} }, "t-admin"))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(g.control, "setRecordingTags", { stream: "cam1", recordingId: "rec1", tags: { "bad key": "x" } }, "t-admin"))).code).toBe(status.INVALID_ARGUMENT);
    const gone = await grpcError(unary(g.control, "stopRecording", { stream: "nobody" }, "t-admin"));
    expect(gone.code).toBe(status.NOT_FOUND);
    expect(gone.metadata.get("problem-type")).toEqual(["urn:imageflowcanvas:problem:not-recording"]);
    expect((await grpcError(unary(g.control, "deleteClip", { id: "0123456789abcdef" }, "t-admin"))).code).toBe(status.NOT_FOUND);
    // The AI feed is off on this server.
    pub = await whipPublish(`${ts.url}/whip/live3`, { audio: false });
    const ai = await grpcError(unary(g.control, "getAiStatus", { stream: "live3" }, "t-admin"));
    expect(ai.code).toBe(status.FAILED_PRECONDITION);
    expect(ai.details).toMatch(/IFC_AI_ENABLED/);
  });

  it("AuthService: Authenticate with a good and a bad password, Refresh; the issued token works", async () => {
    const t = await unary<TokenResponse>(g.auth, "authenticate", { username: "alice", password: "right" });
    expect(t).toEqual({ accessToken: "t-operator", refreshToken: "r-1", tokenType: "Bearer", expiresIn: 28_800 });
    expect((await unary<ListStreamsResponse>(g.control, "listStreams", {}, t.accessToken)).streams).toBeDefined();
    const wrong = await grpcError(unary(g.auth, "authenticate", { username: "alice", password: "wrong" }));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);
    expect(wrong.metadata.get("auth-failure")).toEqual(["bad-credentials"]);
    expect((await grpcError(unary(g.auth, "authenticate", { username: "", password: "" }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await unary<TokenResponse>(g.auth, "refresh", { refreshToken: "r-1" })).refreshToken).toBe("r-2");
    expect((await grpcError(unary(g.auth, "refresh", { refreshToken: "r-1x" }))).code).toBe(status.UNAUTHENTICATED);
  });

  it("counts calls by method and code in ifc_grpc_calls_total and times them", async () => {
    const text = await g.server.metrics.metrics();
    expect(text).toMatch(/ifc_grpc_calls_total\{method="GetStream",code="INVALID_ARGUMENT"\} 1/);
    expect(text).toMatch(/ifc_grpc_calls_total\{method="KickStream",code="PERMISSION_DENIED"\} 2/);
    expect(text).toMatch(/ifc_grpc_calls_total\{method="WatchStreams",code="CANCELLED"\} \d+/);
    expect(text).toMatch(/ifc_grpc_call_duration_seconds_count\{method="ListStreams"\} \d+/);
  });
});

describe("WatchStreams on a stream with media", () => {
  it("SEGMENT_COMPLETED for each segment of a recording started over gRPC, filtered to the streams asked for", async () => {
    const g = await grpcOver({});
    const mine = watch(g, "t-viewer", { streams: ["media1"] });
    const elsewhere = watch(g, "t-viewer", { streams: ["someone-else"] });
    await Promise.all([mine.opened, elsewhere.opened]);
    const pub = await publishTestStream(`${ts.url}/whip/media1`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 4, audio: false });
    try {
      await waitFor(() => eventOf(mine.events, StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, "media1") !== undefined, { what: "PUBLISHED event" });
      const rec = await unary<RecordingState>(g.control, "startRecording", { stream: "media1", tags: {} }, "t-operator");
      await waitFor(() => mine.events.filter((e) => e.type === StreamEventType.STREAM_EVENT_TYPE_SEGMENT_COMPLETED).length >= 2, { what: "two SEGMENT_COMPLETED events", timeoutMs: 20_000 });
      const segs = mine.events.filter((e) => e.type === StreamEventType.STREAM_EVENT_TYPE_SEGMENT_COMPLETED);
      expect(segs.every((e) => e.recordingId === rec.recordingId && e.segmentDurationMs > 0)).toBe(true);
      expect(segs.map((e) => e.segmentSeq)).toEqual([...new Set(segs.map((e) => e.segmentSeq))].sort((x, y) => x - y));
    } finally {
      await pub.stop();
    }
    await waitFor(() => eventOf(mine.events, StreamEventType.STREAM_EVENT_TYPE_UNPUBLISHED, "media1") !== undefined, { what: "UNPUBLISHED event" });
    await waitFor(() => eventOf(mine.events, StreamEventType.STREAM_EVENT_TYPE_RECORDING_STOPPED, "media1") !== undefined, { what: "RECORDING_STOPPED at the stream's end" });
    expect(mine.events.every((e) => e.stream === "media1")).toBe(true);
    expect(elsewhere.events).toEqual([]);
    mine.call.cancel();
    elsewhere.call.cancel();
  }, 60_000);
});

describe("anonymous access and the rate limit", () => {
  it("anonymous from loopback (the default networks) may call without credentials", async () => {
    const g = await grpcOver({});
    expect((await unary<ListStreamsResponse>(g.control, "listStreams", {})).streams).toBeInstanceOf(Array);
    expect(g.audit).toEqual([]);
    // Credentials given are checked even from an anonymous network.
    expect((await grpcError(unary(g.control, "listStreams", {}, "t-forged"))).code).toBe(status.UNAUTHENTICATED);
  });

  it("IFC_GRPC_RATE_LIMIT_PER_MINUTE=5: the 5th call passes, the 6th is RESOURCE_EXHAUSTED with retry-after-ms", async () => {
    const g = await grpcOver({ grpcRateLimitPerMinute: 5 });
    for (let i = 1; i <= 5; i++) await unary(g.control, "listStreams", {});
    const over = await grpcError(unary(g.control, "listStreams", {}));
    expect(over.code).toBe(status.RESOURCE_EXHAUSTED);
    const retry = Number(over.metadata.get("retry-after-ms")[0]);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60_000);
    // Per client, whatever the method or credentials.
    expect((await grpcError(unary(g.auth, "authenticate", { username: "alice", password: "right" }))).code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

describe("WatchStreams limits", () => {
  it("at most maxWatchers calls open at once; one ending makes room", async () => {
    const g = await grpcOver({}, { maxWatchers: 1 });
    const first = watch(g, "t-viewer");
    await first.opened;
    const second = g.control.watchStreams({ streams: [], includeCurrent: false });
    let secondOpened = false;
    second.on("metadata", () => (secondOpened = true));
    const refused = await new Promise<{ code: number; metadata: { get(k: string): unknown[] } }>((resolve) => second.on("error", resolve));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.metadata.get("retry-after-ms")).toEqual(["5000"]);
    expect(secondOpened).toBe(false);
    first.call.cancel();
    await waitFor(async () => {
      const next = watch(g, "t-viewer");
      const ok = await Promise.race([next.opened.then(() => true), new Promise<boolean>((r) => next.call.on("error", () => r(false)))]);
      if (ok) next.call.cancel();
      return ok;
    }, { what: "a watcher admitted after the first ended" });
  });
});

describe("QoS and AI status over a real AiFeed (worker calls faked)", () => {
  it("GetAiStatus, SetQos LOW / AUTO, above the maximum and unspecified presets refused", async () => {
    const h = startFeed({ maxPreset: "medium" });
    h.publish("cam");
    const g = await grpcOver({}, { registry: h.registry, ai: h.feed });
    const st = await unary<AiStatus>(g.control, "getAiStatus", { stream: "cam" });
    expect(st).toMatchObject({ stream: "cam", preset: QosPreset.QOS_PRESET_MEDIUM, override: QosPreset.QOS_PRESET_AUTO });
    const low = await unary<AiStatus>(g.control, "setQos", { stream: "cam", preset: QosPreset.QOS_PRESET_LOW });
    expect(low).toMatchObject({ preset: QosPreset.QOS_PRESET_LOW, override: QosPreset.QOS_PRESET_LOW });
    expect(h.frames.spec("cam")?.fps).toBe(8);
    const auto = await unary<AiStatus>(g.control, "setQos", { stream: "cam", preset: QosPreset.QOS_PRESET_AUTO });
    expect(auto.override).toBe(QosPreset.QOS_PRESET_AUTO);
    const high = await grpcError(unary(g.control, "setQos", { stream: "cam", preset: QosPreset.QOS_PRESET_HIGH }));
    expect(high.code).toBe(status.INVALID_ARGUMENT);
    expect(high.details).toMatch(/IFC_AI_MAX_PRESET/);
    expect((await grpcError(unary(g.control, "setQos", { stream: "cam", preset: QosPreset.QOS_PRESET_UNSPECIFIED }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(g.control, "getAiStatus", { stream: "nobody" }))).code).toBe(status.NOT_FOUND);
    expect(g.audit.map((a) => [a.action, a.who, a.target, a.details])).toEqual([
      ["qos.pinned", "anonymous", "cam", { preset: "low" }],
      ["qos.pinned", "anonymous", "cam", { preset: "auto" }],
    ]);
    await h.feed.close();
  });
});
