import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import path from "node:path";

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

const PAGES = path.resolve(import.meta.dirname, "../e2e/pages");
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript" };

/** Serves test/e2e/pages on 127.0.0.1 (a different origin from the server under test). */
export async function startStaticServer(): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const name = path.basename(new URL(req.url ?? "/", "http://x").pathname);
    readFile(path.join(PAGES, name)).then(
      (body) => {
        res.writeHead(200, { "content-type": TYPES[path.extname(name)] ?? "application/octet-stream" });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
