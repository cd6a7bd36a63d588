import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { FastifyInstance } from "fastify";
import { assertStreamName } from "../../core/stream-name.js";
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

export async function pageRoutes(app: FastifyInstance, opts: PageRoutesOptions): Promise<void> {
  const base = opts.publicUrl ?? "";
  const hlsJsPath = createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js");
  let hlsJs: Buffer | undefined;
  const html = (body: string) => ({ type: "text/html; charset=utf-8", body });

  app.get<{ Params: { stream: string } }>("/streams/:stream", async (req, reply) => {
    assertStreamName(req.params.stream);
    const page = html(watchPage(req.params.stream, base));
    return reply.type(page.type).header("cache-control", "no-cache").send(page.body);
  });

  app.get<{ Params: { stream: string } }>("/publish/:stream", async (req, reply) => {
    assertStreamName(req.params.stream);
    const page = html(publishPage(req.params.stream, base));
    return reply.type(page.type).header("cache-control", "no-cache").send(page.body);
  });

  app.get("/assets/hls.min.js", async (_req, reply) => {
    hlsJs ??= await readFile(hlsJsPath);
    return reply.type("text/javascript; charset=utf-8").header("cache-control", "public, max-age=86400").send(hlsJs);
  });
}
