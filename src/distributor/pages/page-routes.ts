import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import type { RouteAuth } from "../../control/auth/principal.js";
import { binary, problems, StreamParams } from "../../control/schemas.js";
import { publishPage } from "./publish-page.js";
import { watchPage } from "./watch-page.js";

/**
 * The built-in pages: `/streams/{stream}` (watch: WHEP, HLS fallback, detections, stats) and
 * `/publish/{stream}` (the browser's camera over WHIP), plus hls.js for the fallback, served
 * from the installed package so the pages need no CDN and no build step.
 */
export interface PageRoutesOptions {
  /** IFC_PUBLIC_URL: the base the pages' links and requests use; empty keeps them relative. */
  publicUrl?: string;
}

/** The pages' HTML is public: what they do (WHIP, WHEP, HLS) is checked where it is done. */
const PUBLIC: RouteAuth = { permission: "public" };
const page = (summary: string) => ({ tags: ["pages"], summary, params: StreamParams, response: { 200: binary("HTML page", "text/html"), ...problems() } });

export async function pageRoutes(fastify: FastifyInstance, opts: PageRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const base = opts.publicUrl ?? "";
  const hlsJsPath = createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js");
  let hlsJs: Buffer | undefined;
  const html = (body: string) => ({ type: "text/html; charset=utf-8", body });

  app.get("/streams/:stream", { config: { auth: PUBLIC }, schema: page("Watch page (WHEP, HLS fallback, detections, stats)") }, async (req, reply) => {
    const page = html(watchPage(req.params.stream, base));
    return reply.type(page.type).header("cache-control", "no-cache").send(page.body);
  });

  app.get("/publish/:stream", { config: { auth: PUBLIC }, schema: page("Publish page (the browser's camera over WHIP)") }, async (req, reply) => {
    const page = html(publishPage(req.params.stream, base));
    return reply.type(page.type).header("cache-control", "no-cache").send(page.body);
  });

  app.get("/assets/hls.min.js", {
    config: { auth: PUBLIC },
    schema: { tags: ["pages"], summary: "hls.js, served from the installed package", response: { 200: binary("JavaScript", "text/javascript"), ...problems() } },
  }, async (_req, reply) => {
    hlsJs ??= await readFile(hlsJsPath);
    return reply.type("text/javascript; charset=utf-8").header("cache-control", "public, max-age=86400").send(hlsJs);
  });
}
