import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { NetRelay } from "./net-relay.js";

/**
 * An HTTP front for the WHIP endpoint that puts a NetRelay in the media path of a publisher the
 * test cannot reach into (aiortc in Python, a browser): on each SDP POST it removes the offer's
 * candidates, so that the server can learn the publisher only from ICE checks arriving through
 * the relay (peer-reflexive), and rewrites the answer with `relay.routeAnswer`, so that the
 * publisher sends only to the relay. Every other request (DELETE, PATCH) passes unchanged.
 */
export interface WhipRelayProxy {
  /** The proxy's URL for the server URL's path, e.g. proxy.url("/whip/cam"). */
  url(path: string): string;
  close(): Promise<void>;
}

/** Removes every candidate line of an offer (and the end-of-candidates marker with them). */
export function stripCandidates(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((l) => !/^a=(candidate|end-of-candidates)/.test(l))
    .join("\r\n");
}

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startWhipRelayProxy(serverUrl: string, relay: NetRelay): Promise<WhipRelayProxy> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const sdpPost = req.method === "POST" && (req.headers["content-type"] ?? "").startsWith("application/sdp");
      const inBody = await body(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
      const upstream = await fetch(new URL(req.url ?? "/", serverUrl), {
        method: req.method ?? "GET",
        headers,
        ...(inBody.length > 0 ? { body: sdpPost ? stripCandidates(inBody.toString()) : inBody } : {}),
        redirect: "manual",
      });
      let out = Buffer.from(await upstream.arrayBuffer());
      if (sdpPost && upstream.status === 201) out = Buffer.from(relay.routeAnswer(out.toString()));
      const outHeaders: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "transfer-encoding" && k !== "content-encoding" && k !== "connection") outHeaders[k] = v;
      });
      res.writeHead(upstream.status, outHeaders);
      res.end(out);
    })().catch((err: unknown) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
