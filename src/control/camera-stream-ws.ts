import websocket from "@fastify/websocket";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { BadRequestError, ProblemError, ServiceUnavailableError } from "../errors.js";
import { WsChannel, WS_CLOSE } from "../distributor/ws/ws-channel.js";
import type { Detection } from "../generated/imageflow/v1/common.js";
import type { FrameArchiver } from "../pipelines/frame-api/frame-archiver.js";
import { NoWorkerAvailableError, type FrameApiError } from "../pipelines/frame-api/frame-errors.js";
import { FrameSession, FRAME_SESSION_DEFAULTS, type FrameResult, type FrameSessionOptions, type FrameSessionStats } from "../pipelines/frame-api/frame-session.js";
import type { FrameWorkerPool } from "../pipelines/frame-api/frame-worker-pool.js";
import type { RouteAuth } from "./auth/principal.js";
import { problems } from "./schemas.js";

export interface CameraStreamWsOptions {
  /** The AI workers (the server's WorkerPool). */
  pool: FrameWorkerPool;
  /** Archive of selected frames; without it `archive` is ignored. */
  archiver?: FrameArchiver;
  /** Per-session limits (FrameSession defaults: maxPending 2, maxFrameBytes 8 MiB, …). */
  session?: FrameSessionOptions;
  /** Browser sessions at once; one more gets 503 before the upgrade; default 16. */
  maxSessions?: number;
  /** Largest client message (bytes); larger closes the connection with 1009. Default: base64 of maxFrameBytes + 16 KiB. */
  maxMessageBytes?: number;
  /** `stream_stats` every this often (ms); default 1000. */
  statsIntervalMs?: number;
  /** Most bytes queued for one client before it is closed (1013); default 4 MiB. */
  maxBufferedBytes?: number;
  /** Client messages per minute before the connection is closed (1008); default 12 000 (200 frames/s). */
  maxMessagesPerMinute?: number;
  onRateLimited?: () => void;
  /**
   * Origins besides the server's own that may open the stream with the login cookie (IFC_CORS_ORIGINS):
   * a cookie rides along on a cross-site WebSocket too, and running frames is an action.
   */
  allowedOrigins?: readonly string[];
  /** Called with a session's final counts when its client leaves (metrics, tests). */
  onSessionEnd?: (stats: FrameSessionStats) => void;
}

/** The documents' detection JSON (snake_case). */
export function detectionJson(d: Detection): Record<string, unknown> {
  return { class_name: d.className, confidence: d.confidence, bbox: { x: d.bbox?.x ?? 0, y: d.bbox?.y ?? 0, width: d.bbox?.width ?? 0, height: d.bbox?.height ?? 0 }, attributes: { ...d.attributes } };
}

function processedFrameJson(r: FrameResult): Record<string, unknown> {
  return {
    type: "processed_frame",
    sequence: r.sequence,
    timestamp_ms: r.timestampMs,
    source_id: r.sourceId,
    ...(r.pipelineId ? { pipeline_id: r.pipelineId } : {}),
    detections: r.detections.map(detectionJson),
    processing_time_ms: r.processingTimeMs,
    processing_stats: { sequence: r.sequence, frames_dropped: r.framesDropped, worker: r.worker, worker_processing_ms: r.workerProcessingMs, decode_ms: r.decodeMs, worker_round_trip_ms: r.workerRoundTripMs, width: r.width, height: r.height, ...(r.archiveKey ? { archive_key: r.archiveKey } : {}) },
  };
}

function errorJson(err: FrameApiError, sequence?: number): Record<string, unknown> {
  return {
    type: "error",
    ...(sequence !== undefined ? { sequence } : {}),
    error: { code: err.code.toUpperCase(), message: err.message, ...(err instanceof NoWorkerAvailableError ? { retry_after: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) } : {}) },
  };
}

function statsJson(s: FrameSessionStats, fps: number): Record<string, unknown> {
  return {
    type: "stream_stats",
    at: new Date().toISOString(),
    frames_received: s.received,
    frames_processed: s.processed,
    frames_dropped: s.dropped,
    frames_rejected: s.rejected,
    frames_lost: s.lost,
    pending: s.pending,
    pending_high_water: s.pendingHighWater,
    in_flight: s.inFlight,
    avg_processing_ms: Math.round(s.avgProcessingMs * 10) / 10,
    fps,
    worker: s.worker ?? null,
  };
}

/** A `video_frame` message as the documents write it: source/pipeline inside `metadata` or at the top. */
interface VideoFrameMessage {
  type: "video_frame";
  frame_data: string;
  timestamp_ms?: number;
  metadata?: Record<string, unknown>;
  source_id?: unknown;
  pipeline_id?: unknown;
}

/** The message's metadata as strings (`archive: true` and `"true"` alike); non-scalars are refused. */
function metadataOf(msg: VideoFrameMessage): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...(msg.source_id !== undefined ? { source_id: msg.source_id } : {}), ...(msg.pipeline_id !== undefined ? { pipeline_id: msg.pipeline_id } : {}), ...(msg.metadata ?? {}) })) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else return `metadata.${k} must be a string, number or boolean`;
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `WS /ws/camera-stream`: the frame API for browsers. The client sends the documents'
 * `{"type":"video_frame","frame_data":"<base64 JPEG/PNG>","timestamp_ms":…,"metadata":{"source_id":…}}`
 * and gets `processed_frame` per processed frame, `stream_stats` every `statsIntervalMs`, and
 * `error` for a frame refused (the connection stays). One FrameSession per connection: the same
 * credit backpressure as the gRPC path and the video feed. `pipeline:execute`, through the
 * auth gate: a Bearer header (native clients) or the pages' login cookie (browsers cannot set
 * headers on a WebSocket; a cookie-authenticated upgrade must come from an allowed Origin).
 *
 * @fastify/websocket listens to the server's `upgrade` event once per registration: if another
 * scope already registered it, register this inside that scope (or register it once at the root).
 */
export async function registerCameraStreamWs(app: FastifyInstance, opts: CameraStreamWsOptions): Promise<void> {
  const maxFrameBytes = opts.session?.maxFrameBytes ?? FRAME_SESSION_DEFAULTS.maxFrameBytes;
  const maxMessageBytes = opts.maxMessageBytes ?? Math.ceil(maxFrameBytes / 3) * 4 + 16 * 1024;
  const maxSessions = opts.maxSessions ?? 16;
  const statsIntervalMs = opts.statsIntervalMs ?? 1000;
  await app.register(async (scope) => {
    if (!scope.hasDecorator("websocketServer")) {
      // A second @fastify/websocket (another scope's) would route every upgrade twice.
      if (app.server.listenerCount("upgrade") > 0) throw new Error("@fastify/websocket is registered in another scope: register registerCameraStreamWs inside it, or register @fastify/websocket once at the root");
      await scope.register(websocket, { options: { maxPayload: maxMessageBytes } });
    }
    const sessions = new Set<{ session: FrameSession; ch: WsChannel }>();

    const auth: RouteAuth = { permission: "pipeline:execute" };
    const allowedOrigins = new Set(opts.allowedOrigins ?? []);
    scope.route({
      method: "GET",
      url: "/ws/camera-stream",
      config: { auth },
      schema: {
        tags: ["websocket"],
        summary: "Frame API for browsers: video_frame in, processed_frame and stream_stats out (WebSocket: GET with Upgrade; a plain GET answers 426)",
        response: { 101: { description: "Switching Protocols", type: "null" }, ...problems(400, 403, 426, 503) },
      },
      preValidation: async (req: FastifyRequest) => {
        if (!req.ws) return;
        const key = req.headers["sec-websocket-key"];
        if (typeof key !== "string" || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) throw new BadRequestError("the WebSocket handshake needs a Sec-WebSocket-Key of 16 base64-encoded bytes", "invalid-websocket-handshake");
        const origin = req.headers.origin;
        // Cross-site WebSocket hijacking: without a Bearer header the credential is the cookie, which any site's page would send.
        if (req.headers.authorization === undefined && origin !== undefined && !allowedOrigins.has(origin) && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) {
          throw new ProblemError(403, "cross-origin", "Forbidden", `a cookie-authenticated camera stream must come from this server's own origin or an allowed one, not ${origin}`);
        }
        if (sessions.size >= maxSessions) throw new ServiceUnavailableError(`the server already serves ${sessions.size} camera streams (maxSessions)`, 5, "too-many-frame-sessions");
      },
      handler: async (_req: FastifyRequest, reply: FastifyReply) => {
        reply.header("upgrade", "websocket");
        throw new ProblemError(426, "upgrade-required", "Upgrade required", "this is a WebSocket endpoint: send GET with Connection: Upgrade and Upgrade: websocket", {}, { upgrade: "websocket", connection: "upgrade" });
      },
      wsHandler: (socket: WebSocket, req: FastifyRequest) => {
        const ch = new WsChannel(socket, {
          maxBufferedBytes: opts.maxBufferedBytes ?? 4 * 1024 * 1024,
          maxMessagesPerMinute: opts.maxMessagesPerMinute ?? 12_000,
          ...(opts.onRateLimited ? { onRateLimited: opts.onRateLimited } : {}),
        });
        const session = new FrameSession(
          {
            pool: opts.pool,
            ...(opts.archiver ? { archiver: opts.archiver } : {}),
            name: `frame-api/ws/${req.id}`,
            log: req.log,
            onResult: (r) => ch.send(processedFrameJson(r)),
            onFrameError: (err, sequence) => ch.send(errorJson(err, sequence)),
          },
          opts.session,
        );
        const entry = { session, ch };
        sessions.add(entry);
        let lastProcessed = 0;
        let lastAt = Date.now();
        const pushStats = (): void => {
          const s = session.stats();
          const now = Date.now();
          const fps = now > lastAt ? Math.round(((s.processed - lastProcessed) * 10_000) / (now - lastAt)) / 10 : 0;
          lastProcessed = s.processed;
          lastAt = now;
          ch.send(statsJson(s, fps));
        };
        const timer = setInterval(pushStats, statsIntervalMs);
        socket.on("message", (data: Buffer, isBinary: boolean) => {
          if (!ch.admitClientMessage()) return;
          // Also checked here: a @fastify/websocket registered elsewhere has its own maxPayload.
          if (data.length > maxMessageBytes) return ch.close(1009, `message of ${data.length} bytes exceeds ${maxMessageBytes}`);
          const refuse = (detail: string): void => void ch.send({ type: "error", error: { code: "INVALID_MESSAGE", message: detail } });
          if (isBinary) return refuse("messages must be JSON text");
          let msg: unknown;
          try {
            msg = JSON.parse(data.toString("utf8"));
          } catch {
            return refuse("messages must be JSON objects");
          }
          const m = msg as { type?: unknown; frame_data?: unknown; timestamp_ms?: unknown; metadata?: unknown } | null;
          if (m?.type === "ping") return void ch.send({ type: "pong", at: new Date().toISOString() });
          if (m?.type === "get_stats") return pushStats();
          if (m?.type !== "video_frame") return refuse(`unknown message type ${JSON.stringify(m?.type)}: send video_frame, get_stats or ping`);
          if (typeof m.frame_data !== "string" || !BASE64.test(m.frame_data)) return refuse("frame_data must be a base64 string");
          if (m.timestamp_ms !== undefined && (typeof m.timestamp_ms !== "number" || !Number.isFinite(m.timestamp_ms))) return refuse("timestamp_ms must be a number");
          if (m.metadata !== undefined && (typeof m.metadata !== "object" || m.metadata === null || Array.isArray(m.metadata))) return refuse("metadata must be an object");
          const metadata = metadataOf(m as VideoFrameMessage);
          if (typeof metadata === "string") return refuse(metadata);
          session.accept({ frameData: Buffer.from(m.frame_data, "base64"), timestampMs: typeof m.timestamp_ms === "number" ? m.timestamp_ms : Date.now(), metadata });
        });
        socket.on("close", () => {
          clearInterval(timer);
          opts.onSessionEnd?.(session.stats());
          session.close();
          sessions.delete(entry);
        });
      },
    });

    scope.addHook("onClose", async () => {
      for (const { ch } of sessions) ch.close(WS_CLOSE.goingAway, "server shutting down");
    });
  });
}
