import { request } from "node:https";

/**
 * A `fetch` for HTTPS servers whose certificate a private CA signed (Node 20's global fetch takes
 * no CA and undici is not a dependency). Enough for the tests: method, headers, a string body;
 * the answer as a standard Response. A new connection per request (agent: false), so each call
 * does its own handshake (certificate reload tests rely on it).
 */
export function httpsFetch(ca: string | string[]): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init.method ?? "GET", headers, ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
          const status = res.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
        });
      });
      req.on("error", reject);
      if (init.body !== undefined && init.body !== null) req.write(init.body as string);
      req.end();
    });
  }) as typeof fetch;
}
