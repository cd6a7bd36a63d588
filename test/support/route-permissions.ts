import type { AuditAction, RouteAuth } from "../../src/control/auth/principal.js";

const STREAM_PARAM: RouteAuth["stream"] = { in: "params", name: "stream" };
const STREAM_QUERY: RouteAuth["stream"] = { in: "query", name: "stream" };
const PUBLIC: RouteAuth = { permission: "public" };
const publish: RouteAuth = { permission: "stream:publish", stream: STREAM_PARAM };
const view: RouteAuth = { permission: "stream:view", stream: STREAM_PARAM, viewToken: true };
const recView: RouteAuth = { permission: "recording:view", stream: STREAM_PARAM, viewToken: true };
const recControl: RouteAuth = { permission: "recording:control", stream: STREAM_PARAM };
const control: RouteAuth = { permission: "stream:control", stream: STREAM_PARAM };

/**
 * The route permission table of issue 11 as data: what each route declares in `config.auth`
 * (and `config.audit`). The route files declare these themselves; this table is the independent
 * reference the authorization matrix test checks their declarations against (a route missing
 * here is still checked by the matrix, from its own declaration). Keys are `METHOD url` as
 * Fastify registers them.
 */
export const ROUTE_TABLE: Readonly<Record<string, { auth: RouteAuth; audit?: AuditAction }>> = {
  "GET /health": { auth: PUBLIC },
  "GET /ready": { auth: PUBLIC },
  "GET /streams/:stream": { auth: PUBLIC },
  "GET /publish/:stream": { auth: PUBLIC },
  "GET /assets/hls.min.js": { auth: PUBLIC },

  "OPTIONS /whip/:stream": { auth: publish },
  "POST /whip/:stream": { auth: publish },
  "PATCH /whip/:stream/sessions/:session": { auth: publish },
  "DELETE /whip/:stream/sessions/:session": { auth: publish },

  "OPTIONS /whep/:stream": { auth: view },
  "POST /whep/:stream": { auth: view },
  "PATCH /whep/:stream/sessions/:session": { auth: view },
  "DELETE /whep/:stream/sessions/:session": { auth: view },
  "GET /hls/:stream/index.m3u8": { auth: view },
  "GET /hls/:stream/:recording/:file": { auth: view },
  "GET /ws/streams/:stream": { auth: view },
  "GET /ws/streams/:stream/detections": { auth: view },
  // REST clients set headers: no view token in the query there (players only: HLS, playback, WHEP, WebSocket).
  "GET /api/v1/streams/:stream": { auth: { permission: "stream:view", stream: STREAM_PARAM } },
  "GET /api/v1/streams/:stream/ai": { auth: { permission: "stream:view", stream: STREAM_PARAM } },
  "GET /api/v1/streams": { auth: { permission: "stream:view" } },

  "GET /api/v1/recordings": { auth: { permission: "recording:view", stream: STREAM_QUERY } },
  "GET /api/v1/recordings/:stream/play": { auth: recView },
  "GET /api/v1/recordings/:stream/:recording": { auth: { permission: "recording:view", stream: STREAM_PARAM } },
  "GET /hls/:stream/vod.m3u8": { auth: recView },
  "GET /api/v1/clips": { auth: { permission: "recording:view", stream: STREAM_QUERY } },
  "GET /api/v1/clips/:id/play": { auth: { permission: "recording:view", viewToken: true } },

  "POST /api/v1/streams/:stream/recording": { auth: recControl, audit: "recording.started" },
  "DELETE /api/v1/streams/:stream/recording": { auth: recControl, audit: "recording.stopped" },
  "PUT /api/v1/recordings/:stream/:recording/tags": { auth: recControl, audit: "recording.tagged" },
  "POST /api/v1/streams/:stream/clips": { auth: { permission: "recording:export", stream: STREAM_PARAM }, audit: "clip.exported" },
  "DELETE /api/v1/clips/:id": { auth: { permission: "recording:export" }, audit: "clip.deleted" },

  "PUT /api/v1/streams/:stream/qos": { auth: control, audit: "qos.pinned" },
  "DELETE /api/v1/streams/:stream": { auth: control, audit: "stream.kicked" },

  // Pulled cameras: the id names no stream, so scoped grants are checked in the handler against the source's stream.
  "GET /api/v1/sources": { auth: { permission: "stream:control" } },
  "POST /api/v1/sources": { auth: { permission: "stream:control" } },
  "GET /api/v1/sources/:id": { auth: { permission: "stream:control" } },
  "DELETE /api/v1/sources/:id": { auth: { permission: "stream:control" } },

  "GET /api/v1/pipelines": { auth: { permission: "pipeline:view" } },
  "POST /api/v1/pipelines": { auth: { permission: "system:admin" } },
  "GET /api/v1/pipelines/:id": { auth: { permission: "pipeline:view" } },
  "PUT /api/v1/pipelines/:id": { auth: { permission: "system:admin" } },
  "DELETE /api/v1/pipelines/:id": { auth: { permission: "system:admin" } },
  "GET /api/v1/pipelines/:id/versions": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/pipelines/:id/metrics": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/components": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/components/:id": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/grpc-services": { auth: { permission: "pipeline:view" } },
  "POST /api/v1/grpc-services": { auth: { permission: "system:admin" } },
  "POST /api/v1/files": { auth: { permission: "pipeline:execute" } },
  "GET /api/v1/files/:id": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/files/:id/download": { auth: { permission: "pipeline:view" } },
  "POST /api/v1/executions": { auth: { permission: "pipeline:execute" } },
  "GET /api/v1/executions": { auth: { permission: "pipeline:view" } },
  "GET /api/v1/executions/:id": { auth: { permission: "pipeline:view" } },
  "POST /api/v1/executions/:id/cancel": { auth: { permission: "pipeline:execute" } },
  "GET /ws/execution/:id": { auth: { permission: "pipeline:view" } },
  "GET /ws/camera-stream": { auth: { permission: "pipeline:execute" } },

  // Products (product master: src/control/product-routes.ts).
  "GET /api/v1/products": { auth: { permission: "product:search" } },
  "GET /api/v1/products/by-qr": { auth: { permission: "product:search" } },
  "POST /api/v1/products/batch-get": { auth: { permission: "product:search" } },
  "GET /api/v1/products/:id": { auth: { permission: "product:search" } },
  "POST /api/v1/products": { auth: { permission: "system:admin" } },
  "PUT /api/v1/products/:id": { auth: { permission: "system:admin" } },
  "DELETE /api/v1/products/:id": { auth: { permission: "system:admin" } },
  "POST /api/v1/products/import": { auth: { permission: "system:admin" } },
  "GET /api/v1/products/rules/:product_type": { auth: { permission: "product:search" } },
  "PUT /api/v1/products/rules/:product_type": { auth: { permission: "system:admin" } },
  "GET /api/v1/products/quality-standards/:product_type": { auth: { permission: "product:search" } },
  "PUT /api/v1/products/quality-standards/:product_type": { auth: { permission: "system:admin" } },

  // Offline devices and sync (issue 16 item 6): device login is public (rate limited like user login).
  "POST /api/v1/tauri/devices/register": { auth: { permission: "system:admin" } },
  "GET /api/v1/tauri/devices": { auth: { permission: "system:admin" } },
  "DELETE /api/v1/tauri/devices/:id": { auth: { permission: "system:admin" } },
  "POST /api/v1/tauri/auth/login": { auth: PUBLIC },
  "GET /api/v1/tauri/config": { auth: { permission: "inspection:view" } },
  "PUT /api/v1/tauri/config": { auth: { permission: "inspection:view" } },
  "GET /api/v1/inspection/sync/download": { auth: { permission: "inspection:view" } },
  "GET /api/v1/inspection/sync/changes": { auth: { permission: "inspection:view" } },
  "POST /api/v1/inspection/sync/upload": { auth: { permission: "inspection:create" } },
  "POST /api/v1/inspection/sync/apply-changes": { auth: { permission: "inspection:create" } },
  "GET /api/v1/inspection/sync/conflicts": { auth: { permission: "system:admin" } },
  "POST /api/v1/inspection/sync/conflicts/:id/resolve": { auth: { permission: "system:admin" } },

  "GET /metrics": { auth: { permission: "system:view", metricsNetworks: true } },
  "GET /api/v1/ai/workers": { auth: { permission: "system:view" } },
  "GET /ws/system-status": { auth: { permission: "system:view" } },

  // Inspection (issue 16 item 5): master data writes are admin; sessions and judgements inspection:create.
  "GET /api/v1/inspection/targets": { auth: { permission: "inspection:view" } },
  "POST /api/v1/inspection/targets": { auth: { permission: "system:admin" } },
  "GET /api/v1/inspection/targets/:id": { auth: { permission: "inspection:view" } },
  "PUT /api/v1/inspection/targets/:id": { auth: { permission: "system:admin" } },
  "DELETE /api/v1/inspection/targets/:id": { auth: { permission: "system:admin" } },
  "GET /api/v1/inspection/targets/:id/items": { auth: { permission: "inspection:view" } },
  "POST /api/v1/inspection/targets/:id/items": { auth: { permission: "system:admin" } },
  "GET /api/v1/inspection/items/:id": { auth: { permission: "inspection:view" } },
  "PUT /api/v1/inspection/items/:id": { auth: { permission: "system:admin" } },
  "DELETE /api/v1/inspection/items/:id": { auth: { permission: "system:admin" } },
  "GET /api/v1/inspection/items/:id/pipeline": { auth: { permission: "inspection:view" } },
  "PUT /api/v1/inspection/items/:id/pipeline": { auth: { permission: "system:admin" } },
  "POST /api/v1/inspection/sessions": { auth: { permission: "inspection:create" } },
  "GET /api/v1/inspection/sessions/:id": { auth: { permission: "inspection:view" } },
  "PUT /api/v1/inspection/sessions/:id": { auth: { permission: "inspection:create" } },
  "POST /api/v1/inspection/sessions/:id/complete": { auth: { permission: "inspection:create" } },
  "POST /api/v1/inspection/sessions/:id/ai-inspection": { auth: { permission: "inspection:create" } },
  "POST /api/v1/inspection/sessions/:id/human-verification": { auth: { permission: "inspection:create" } },
  "POST /api/v1/inspection/pipeline-results/convert": { auth: { permission: "inspection:create" } },
  "GET /api/v1/inspection/statistics": { auth: { permission: "inspection:view" } },
  "GET /api/v1/inspection/quality/realtime": { auth: { permission: "inspection:view" } },
  "GET /api/v1/inspection/quality/trends": { auth: { permission: "inspection:view" } },
  "GET /api/v1/inspection/quality/alerts": { auth: { permission: "inspection:view" } },
  "GET /ws/quality-metrics": { auth: { permission: "inspection:view" } },
  // Traceability (issue 16): chains, details, explicit links, video search.
  "GET /api/v1/products/:id/trace": { auth: { permission: "product:search" } },
  "GET /api/v1/products/:id/details": { auth: { permission: "product:search" } },
  "POST /api/v1/products/:id/links": { auth: { permission: "inspection:create" } },
  "DELETE /api/v1/products/:id/links": { auth: { permission: "system:admin" } },
  "GET /api/v1/videos/search": { auth: { permission: "recording:view" } },
};
