import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, RouteOptions } from "fastify";
import type { RouteAuth } from "./auth/principal.js";

export interface OpenApiOptions {
  /** IFC_PUBLIC_URL, named as the server of the document when set. */
  publicUrl?: string;
  version: string;
}

const PUBLIC: RouteAuth = { permission: "public" };

/** A route's OpenAPI tag, from its path. */
function tagOf(url: string): string {
  if (url.startsWith("/whip")) return "whip";
  if (url.startsWith("/whep")) return "whep";
  if (url.startsWith("/hls")) return "hls";
  if (url.startsWith("/ws/")) return "websocket";
  if (url.startsWith("/api/v1/auth") || url.startsWith("/.well-known")) return "auth";
  if (url.startsWith("/api/v1/users") || url.includes("/keys")) return "admin";
  if (url.startsWith("/api/v1/recordings") || url.startsWith("/api/v1/clips") || url.endsWith("/recording") || url.endsWith("/clips")) return "recordings";
  if (url.includes("/ai") || url.endsWith("/qos")) return "ai";
  if (url.startsWith("/api/v1/streams")) return "streams";
  if (url.startsWith("/streams/") || url.startsWith("/publish/") || url.startsWith("/assets/")) return "pages";
  return "system";
}

/**
 * The OpenAPI 3.1 document, built by @fastify/swagger from the routes' own schemas (one source),
 * at `/openapi.json`, and Swagger UI at `/docs` from the installed package (no CDN). Each
 * operation gets a tag, the permission it needs (`x-permission`) and its security: none for
 * public routes, the bearer scheme otherwise. Register before the route plugins: swagger
 * collects routes through an onRoute hook.
 */
export async function openApiPlugin(app: FastifyInstance, opts: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "ImageFlowCanvas Ingest",
        version: opts.version,
        description: "WHIP/WHEP, HLS, recordings, clips, AI feed and control. Errors are RFC 9457 problem details (application/problem+json).",
      },
      ...(opts.publicUrl ? { servers: [{ url: opts.publicUrl }] } : {}),
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An access token (POST /api/v1/auth/login), or a stream's publish key on WHIP" },
          viewToken: { type: "apiKey", in: "query", name: "token", description: "A short-lived view token (POST /api/v1/auth/view-token) for players that cannot set headers" },
        },
      },
      security: [{ bearer: [] }],
      tags: ["whip", "whep", "hls", "websocket", "streams", "recordings", "ai", "auth", "admin", "pages", "system"].map((name) => ({ name })),
    },
    refResolver: {
      // Shared schemas land in components.schemas under their $id (streamName, problem, …).
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`),
    },
    transform: ({ schema, url, route }) => {
      const auth = (route as RouteOptions).config?.auth;
      const base = (schema ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = { ...base };
      out.tags ??= [tagOf(url)];
      if (auth) {
        out["x-permission"] = auth.permission;
        if (auth.permission === "public") out.security = [];
        else if (auth.viewToken) out.security = [{ bearer: [] }, { viewToken: [] }];
      }
      return { schema: out as never, url };
    },
  });

  // Swagger UI and the document are public; the UI's own routes are hidden from the document.
  await app.register(async (docs) => {
    docs.addHook("onRoute", (route) => {
      route.config = { ...(route.config ?? {}), auth: route.config?.auth ?? PUBLIC };
    });
    await docs.register(swaggerUi, { routePrefix: "/docs" });
    docs.get("/openapi.json", { schema: { hide: true }, config: { auth: PUBLIC } }, async () => app.swagger());
  });
}

// Not encapsulated (what fastify-plugin does): swagger's decorator and onRoute hook must live on the root.
(openApiPlugin as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;
