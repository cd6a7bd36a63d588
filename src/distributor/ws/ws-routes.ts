import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { assertStreamName } from "../../core/stream-name.js";
import { ServiceUnavailableError } from "../../errors.js";
import { VIDEO_ANALYSIS_TOPIC, type EventBus } from "../../ports/event-bus.js";
import { WsChannel, WS_CLOSE, type WsChannelOptions } from "./ws-channel.js";

export interface WsRoutesOptions {
  bus: EventBus;
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
export async function wsRoutes(app: FastifyInstance, opts: WsRoutesOptions): Promise<void> {
  await app.register(websocket, {
    options: { maxPayload: opts.maxClientMessageBytes },
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

  app.get<{ Params: { stream: string } }>(
    "/ws/streams/:stream/detections",
    { websocket: true, preValidation: async (req) => (assertStreamName(req.params.stream), admit()) },
    (socket, req) => {
      const ch = attach(socket);
      const off = detectionsOf(req.params.stream, ch);
      socket.on("close", off);
    },
  );

  app.get<{ Params: { stream: string } }>(
    "/ws/streams/:stream",
    { websocket: true, preValidation: async (req) => (assertStreamName(req.params.stream), admit()) },
    (socket, req) => {
      const ch = attach(socket);
      const off = detectionsOf(req.params.stream, ch);
      socket.on("close", off);
      every(ch, socket, () => statsMessage(req.params.stream));
    },
  );

  app.get("/ws/system-status", { websocket: true, preValidation: admit }, (socket) => {
    const ch = attach(socket);
    every(ch, socket, () => ({ type: "system_status", at: new Date().toISOString(), ...opts.systemStatus() }));
  });

  app.addHook("onClose", async () => {
    for (const ch of clients) ch.close(WS_CLOSE.goingAway, "server shutting down");
  });
}
