import websocket from "@fastify/websocket";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { BadRequestError, ProblemError, ServiceUnavailableError } from "../../errors.js";
import type { RouteAuth } from "../../control/auth/principal.js";
import { problems, StreamParams } from "../../control/schemas.js";
import { Type } from "typebox";
import { VIDEO_ANALYSIS_TOPIC, type EventBus } from "../../ports/event-bus.js";
import { WsChannel, WS_CLOSE, type WsChannelOptions } from "./ws-channel.js";

/** A pipeline execution's feed for /ws/execution/{id} (messages already in the documents' shape). */
export interface ExecutionFeed {
  exists(id: string): Promise<boolean>;
  /** Sends the current state and every later message; returns the function that stops it. */
  attach(id: string, send: (msg: Record<string, unknown>) => void): () => void;
}

/** Inspection quality figures for /ws/quality-metrics (`quality_update`, `quality_alert`). */
export interface QualityFeed {
  /** Sends the current figures at once and every later message; returns the function that stops it. */
  attach(send: (msg: Record<string, unknown>) => void): () => void;
}

export interface WsRoutesOptions {
  bus: EventBus;
  /** Inspection quality metrics (absent: no /ws/quality-metrics route). */
  quality?: QualityFeed;
  /**
   * Routes that take large client messages (the frame API's base64 frames), registered in this
   * scope: one @fastify/websocket per server. Its ws server then accepts up to `maxMessageBytes`,
   * and the routes above keep `maxClientMessageBytes` by checking each message themselves.
   */
  largeMessageRoutes?: { maxMessageBytes: number; register(scope: FastifyInstance): Promise<void> };
  /** Pipeline executions' progress (absent: no /ws/execution route). */
  executions?: ExecutionFeed;
  /** The stream's figures for `stream_stats`, or undefined when it is not live. */
  streamStats(stream: string): Record<string, unknown> | undefined;
  systemStatus(): Record<string, unknown>;
  channel: Omit<WsChannelOptions, "now">;
  statsIntervalMs: number;
  /** Most WebSocket clients at once (all feeds); more get 503 before the upgrade. */
  maxClients: number;
  /** Largest client message (bytes); larger closes the connection (1009). */
  maxClientMessageBytes: number;
}

/**
 * Push feeds over WebSocket on the HTTP port:
 * - `/ws/streams/{stream}/detections`: the stream's analysis results as they arrive;
 * - `/ws/streams/{stream}`: `stream_stats` every `statsIntervalMs` plus the detections;
 * - `/ws/system-status`: server-wide figures every `statsIntervalMs`.
 * A stream need not be live yet: a dashboard may subscribe before the camera starts.
 * Clients may send `{"type":"ping"}` (answered with `pong`), within the message rate limit.
 */
export async function wsRoutes(fastify: FastifyInstance, opts: WsRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  await app.register(websocket, {
    options: { maxPayload: Math.max(opts.maxClientMessageBytes, opts.largeMessageRoutes?.maxMessageBytes ?? 0) },
    errorHandler: (error, socket, request) => {
      // A client breaking the protocol (a message over maxPayload, a bad frame) is its own fault:
      // ws has already sent the close code (1009, 1002…), so no stack trace in our error log.
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && code.startsWith("WS_ERR_")) request.log.warn({ code, detail: error.message }, "WebSocket client closed for a protocol error");
      else request.log.error(error);
      socket.terminate();
    },
  });
  const clients = new Set<WsChannel>();

  const admit = async (): Promise<void> => {
    if (clients.size >= opts.maxClients) throw new ServiceUnavailableError(`the server already serves ${clients.size} WebSocket clients`, 5, "too-many-websocket-clients");
  };

  const attach = (socket: WebSocket): WsChannel => {
    const ch = new WsChannel(socket, opts.channel);
    clients.add(ch);
    socket.on("message", (data: Buffer) => {
      // 1009 as ws itself would, when the server-wide payload limit is raised for the frame API.
      if (data.length > opts.maxClientMessageBytes) {
        socket.close(1009, "message too big");
        return;
      }
      if (!ch.admitClientMessage()) return;
      let msg: { type?: unknown } | undefined;
      try {
        msg = JSON.parse(data.toString("utf8")) as { type?: unknown };
      } catch {
        ch.send({ type: "error", detail: "messages must be JSON objects" });
        return;
      }
      if (msg?.type === "ping") ch.send({ type: "pong", at: new Date().toISOString() });
    });
    socket.on("close", () => clients.delete(ch));
    return ch;
  };

  const detectionsOf = (stream: string, ch: WsChannel): (() => void) =>
    opts.bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => {
      if (e.key === stream) ch.send({ type: "detections", ...e.value });
    });

  const every = (ch: WsChannel, socket: WebSocket, fn: () => unknown): void => {
    const push = (): void => {
      if (ch.isOpen) ch.send(fn());
    };
    push();
    const timer = setInterval(push, opts.statsIntervalMs);
    socket.on("close", () => clearInterval(timer));
  };

  const statsMessage = (stream: string): Record<string, unknown> => ({
    type: "stream_stats",
    stream,
    at: new Date().toISOString(),
    ...(opts.streamStats(stream) ?? { live: false }),
  });

  const viewing: RouteAuth = { permission: "stream:view", stream: { in: "params", name: "stream" }, viewToken: true };
  const wsSchema = (summary: string) => ({
    tags: ["websocket"],
    summary: `${summary} (WebSocket: GET with Upgrade; a plain GET answers 426)`,
    response: { 101: { description: "Switching Protocols", type: "null" }, ...problems(400, 426, 503) },
  });
  const wsQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 4096, description: "A view token" })) });

  app.route({
    method: "GET",
    url: "/ws/streams/:stream/detections",
    config: { auth: viewing },
    schema: { ...wsSchema("The stream's analysis results as they arrive"), params: StreamParams, querystring: wsQuery },
    preValidation: admitUpgrade,
    handler: upgradeRequired,
    wsHandler: (socket, req) => {
      const ch = attach(socket);
      const off = detectionsOf((req.params as { stream: string }).stream, ch);
      socket.on("close", off);
    },
  });

  app.route({
    method: "GET",
    url: "/ws/streams/:stream",
    config: { auth: viewing },
    schema: { ...wsSchema("stream_stats every IFC_WS_STATS_INTERVAL_MS plus detections"), params: StreamParams, querystring: wsQuery },
    preValidation: admitUpgrade,
    handler: upgradeRequired,
    wsHandler: (socket, req) => {
      const stream = (req.params as { stream: string }).stream;
      const ch = attach(socket);
      const off = detectionsOf(stream, ch);
      socket.on("close", off);
      every(ch, socket, () => statsMessage(stream));
    },
  });

  app.route({
    method: "GET",
    url: "/ws/system-status",
    config: { auth: { permission: "system:view" } },
    schema: { ...wsSchema("Server-wide figures every IFC_WS_STATS_INTERVAL_MS"), querystring: wsQuery },
    preValidation: admitUpgrade,
    handler: upgradeRequired,
    wsHandler: (socket) => {
      const ch = attach(socket);
      every(ch, socket, () => ({ type: "system_status", at: new Date().toISOString(), ...opts.systemStatus() }));
    },
  });

  const executions = opts.executions;
  if (executions) {
    app.route({
      method: "GET",
      url: "/ws/execution/:id",
      config: { auth: { permission: "pipeline:view" } },
      schema: { ...wsSchema("A pipeline execution's progress, then `completed` or `error` (at once when it has already finished)"), params: Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,80}$" }) }), querystring: wsQuery },
      preValidation: async (req) => {
        const id = (req.params as { id: string }).id;
        if (!(await executions.exists(id))) throw new ProblemError(404, "execution-not-found", "Not found", `no execution ${id}`);
        await admitUpgrade(req);
      },
      handler: upgradeRequired,
      wsHandler: (socket, req) => {
        const ch = attach(socket);
        const off = executions.attach((req.params as { id: string }).id, (msg) => {
          if (ch.isOpen) ch.send(msg);
        });
        socket.on("close", off);
      },
    });
  }

  const quality = opts.quality;
  if (quality) {
    app.route({
      method: "GET",
      url: "/ws/quality-metrics",
      config: { auth: { permission: "inspection:view" } },
      schema: { ...wsSchema("Inspection quality: `quality_update` figures, and `quality_alert` when the NG rate over the window passes the threshold"), querystring: wsQuery },
      preValidation: admitUpgrade,
      handler: upgradeRequired,
      wsHandler: (socket) => {
        const ch = attach(socket);
        const off = quality.attach((msg) => {
          if (ch.isOpen) ch.send(msg);
        });
        socket.on("close", off);
      },
    });
  }

  /** A WebSocket route asked without an upgrade: 426 naming the protocol (RFC 9110 §15.5.22). */
  async function upgradeRequired(_req: FastifyRequest, reply: FastifyReply): Promise<never> {
    reply.header("upgrade", "websocket");
    throw new ProblemError(426, "upgrade-required", "Upgrade required", "this is a WebSocket endpoint: send GET with Connection: Upgrade and Upgrade: websocket", {}, { upgrade: "websocket", connection: "upgrade" });
  }

  /**
   * Checks an upgrade's handshake before ws does (ws would answer a bare-text 400) and admits
   * the client within IFC_WS_MAX_CLIENTS. A plain GET goes on to the 426.
   */
  async function admitUpgrade(req: FastifyRequest): Promise<void> {
    if (!req.ws) return;
    const key = req.headers["sec-websocket-key"];
    if (typeof key !== "string" || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) {
      throw new BadRequestError("the WebSocket handshake needs a Sec-WebSocket-Key of 16 base64-encoded bytes", "invalid-websocket-handshake");
    }
    const version = req.headers["sec-websocket-version"];
    if (version !== "13" && version !== "8") {
      throw new ProblemError(426, "upgrade-required", "Upgrade required", "only WebSocket version 13 is supported", {}, { "sec-websocket-version": "13" });
    }
    await admit();
  }

  if (opts.largeMessageRoutes) await opts.largeMessageRoutes.register(app);

  app.addHook("onClose", async () => {
    for (const ch of clients) ch.close(WS_CLOSE.goingAway, "server shutting down");
  });
}
