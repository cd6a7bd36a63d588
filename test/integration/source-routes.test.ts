/**
 * /api/v1/sources on the real server: add, list, inspect, remove; RFC 7807 refusals (bad URL or
 * scheme, a taken name, an unknown id, a config source's read-only-ness); passwords never
 * returned; REST sources kept in <IFC_DATA_DIR>/sources.json across a restart. The cameras
 * here are ports nothing listens on: the sources retry, which is all these tests need.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

interface Source {
  id: string;
  name: string;
  url: string;
  transport: string;
  mode: string;
  origin: string;
  status: { state: string; retries: number; lastError?: { kind: string } };
}

const json = { "content-type": "application/json" };

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/api/v1/sources`, { method: "POST", headers: json, body: JSON.stringify(body) });
}

describe("/api/v1/sources", () => {
  it("adds, lists, shows and removes sources; refuses bad input with problem details; never returns a password", async () => {
    const deadPort = await freePort();
    ts = await startTestServer({
      sourceRetryMinMs: 100, sourceRetryMaxMs: 400,
      sources: [{ name: "fixed", url: `rtsp://127.0.0.1:${deadPort}/fixed`, transport: "tcp", mode: "on-demand" }],
    });
    const url = ts.url;

    const created = await post(url, { name: "cam1", url: `rtsp://admin:p%40ss@127.0.0.1:${deadPort}/live`, transport: "udp" });
    expect(created.status).toBe(201);
    const cam1 = (await created.json()) as Source;
    expect(created.headers.get("location")).toBe(`/api/v1/sources/${cam1.id}`);
    expect(cam1).toMatchObject({ name: "cam1", transport: "udp", mode: "always", origin: "api", url: `rtsp://admin:***@127.0.0.1:${deadPort}/live` });

    // Always-on: it tries at once, and retries the dead port.
    await waitFor(async () => {
      const s = (await (await fetch(`${url}/api/v1/sources/${cam1.id}`)).json()) as Source;
      return s.status.state === "retrying" && s.status.retries >= 2 && s.status.lastError?.kind === "network";
    }, { timeoutMs: 10_000, what: "cam1 retrying the dead port" });
    // Listed in the streams as awaited (never live yet: connecting), with its source's state.
    const streams = (await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: { name: string; state: string; source?: { state: string; retries: number } }[] };
    // Its source cycles retrying → connecting → retrying (a refused connect is quick): either is an awaited source.
    const awaited = ["retrying", "connecting"];
    const cam1Entry = streams.streams.find((s) => s.name === "cam1");
    expect(cam1Entry?.state).toBe("connecting");
    expect(awaited).toContain(cam1Entry?.source?.state);
    // An on-demand source nobody reads stays idle and unlisted.
    expect(streams.streams.find((s) => s.name === "fixed")).toBeUndefined();

    const list = (await (await fetch(`${url}/api/v1/sources`)).json()) as { sources: Source[] };
    expect(list.sources.map((s) => [s.name, s.origin]).sort()).toEqual([["cam1", "api"], ["fixed", "config"]]);
    expect(awaited).toContain(list.sources.find((s) => s.name === "cam1")?.status.state);
    expect(list.sources.find((s) => s.name === "fixed")?.status.state).toBe("idle");
    expect(JSON.stringify(list)).not.toContain("p%40ss");
    expect(JSON.stringify(list)).not.toContain("p@ss");

    const problem = async (res: Response, status: number, type: string): Promise<void> => {
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { type: string }).type).toBe(`urn:imageflowcanvas:problem:${type}`);
    };
    await problem(await post(url, { name: "x1", url: "http://cam.example.com/live" }), 400, "invalid-source");
    await problem(await post(url, { name: "x2", url: "not a url" }), 400, "invalid-source");
    await problem(await post(url, { name: "bad name!", url: `rtsp://127.0.0.1:${deadPort}/a` }), 400, "invalid-source");
    await problem(await post(url, { name: "x3", url: `rtsp://127.0.0.1:${deadPort}/a`, transport: "sctp" }), 400, "validation");
    await problem(await post(url, { name: "cam1", url: `rtsp://127.0.0.1:${deadPort}/other` }), 409, "source-exists");
    await problem(await post(url, { name: "fixed", url: `rtsp://127.0.0.1:${deadPort}/other` }), 409, "source-exists");
    await problem(await fetch(`${url}/api/v1/sources/src-nope`), 404, "source-not-found");
    await problem(await fetch(`${url}/api/v1/sources/src-nope`, { method: "DELETE" }), 404, "source-not-found");
    await problem(await fetch(`${url}/api/v1/sources/config-fixed`, { method: "DELETE" }), 409, "source-read-only");

    expect((await fetch(`${url}/api/v1/sources/${cam1.id}`, { method: "DELETE" })).status).toBe(204);
    await problem(await fetch(`${url}/api/v1/sources/${cam1.id}`), 404, "source-not-found");
    const after = (await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: { name: string }[] };
    expect(after.streams.map((s) => s.name)).not.toContain("cam1");
  }, 60_000);

  it("keeps REST sources in <IFC_DATA_DIR>/sources.json (owner-only) and starts them again after a restart", async () => {
    const deadPort = await freePort();
    ts = await startTestServer({ sourceRetryMinMs: 100, sourceRetryMaxMs: 400 });
    const url = ts.url;
    const res = await post(url, { name: "kept", url: `rtsp://u:pw@127.0.0.1:${deadPort}/kept`, transport: "tcp", mode: "on-demand" });
    expect(res.status).toBe(201);
    const kept = (await res.json()) as Source;
    const file = path.join(ts.dataDir, "sources.json");
    const stored = JSON.parse(await readFile(file, "utf8")) as { sources: { id: string; url: string }[] };
    // The file keeps the credentials the server needs; only its owner may read it.
    expect(stored.sources).toEqual([expect.objectContaining({ id: kept.id, url: `rtsp://u:pw@127.0.0.1:${deadPort}/kept` })]);
    expect((await stat(file)).mode & 0o077).toBe(0);

    // Same data directory, a new server: the source is back, with its id.
    // (afterEach's ts.stop() removes the shared directory once both are closed.)
    await ts.server.close();
    const again = await startTestServer({ dataDir: ts.dataDir, sourceRetryMinMs: 100, sourceRetryMaxMs: 400 });
    try {
      const list = (await (await fetch(`${again.url}/api/v1/sources`)).json()) as { sources: Source[] };
      expect(list.sources).toEqual([expect.objectContaining({ id: kept.id, name: "kept", mode: "on-demand", origin: "api", url: `rtsp://u:***@127.0.0.1:${deadPort}/kept` })]);
    } finally {
      await again.stop();
    }
  }, 60_000);
});
