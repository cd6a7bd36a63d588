import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";

export interface StaticServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** URL of a page with query parameters, e.g. pageUrl("whip-publish.html", { whip, video: "1" }). */
  pageUrl(name: string, query?: Record<string, string>): string;
  close(): Promise<void>;
}

export const PAGES_DIR = path.resolve(import.meta.dirname, "../e2e/pages");
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css" };

/**
 * Serves test/e2e/pages (flat, by file name only) on 127.0.0.1:<ephemeral>: a different origin
 * from the server under test, so the page's WHIP requests are cross-origin (CORS).
 */
export async function startStaticServer(): Promise<StaticServer> {
  const server = createServer((req, res) => {
    const name = path.basename(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (name === "favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    readFile(path.join(PAGES_DIR, name)).then(
      (body) => {
        res.writeHead(200, { "content-type": TYPES[path.extname(name)] ?? "application/octet-stream", "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    pageUrl: (name, query = {}) => `${url}/${name}${Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : ""}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
