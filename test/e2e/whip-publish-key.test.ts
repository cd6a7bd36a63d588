import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { whipPublish, WhipHttpError } from "../helpers/whip-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * OBS-style WHIP (RFC 9725 §4.5): the stream's publish key, created over REST by an admin, is
 * the Bearer token of the WHIP POST (and DELETE). Anonymous access is off, so nothing but the
 * key lets the publisher in. A key of another stream → 403; a revoked key → 401.
 */
let ts: TestServer;
let admin: Record<string, string>;

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function createKey(stream: string): Promise<{ id: string; key: string }> {
  return json(await fetch(`${ts.url}/api/v1/streams/${stream}/keys`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ label: "obs" }) }));
}

async function whipStatus(stream: string, key: string | undefined): Promise<number> {
  try {
    const pub = await whipPublish(`${ts.url}/whip/${stream}`, { audio: false, headers: key ? { authorization: `Bearer ${key}` } : {} });
    await pub.close();
    return 201;
  } catch (err) {
    if (err instanceof WhipHttpError) return err.status;
    throw err;
  }
}

beforeAll(async () => {
  ts = await startTestServer({ authAnonymousNetworks: [] });
  await ts.server.auth.userStore.add("ada", "admin", "ada-password-1234");
  const { access_token } = await json<{ access_token: string }>(
    await fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "ada-password-1234" }) }),
  );
  admin = { authorization: `Bearer ${access_token}` };
}, 60_000);

afterAll(async () => {
  await ts?.stop();
});

describe("WHIP with a publish key as Bearer token", () => {
  it("publishes live and recorded with the stream's key; another stream's key is 403, no credentials 401, a revoked key 401", async () => {
    const key = await createKey("cam1");
    const other = await createKey("other");
    expect(key.key).not.toBe(other.key);

    expect(await whipStatus("cam1", undefined)).toBe(401);
    expect(await whipStatus("cam1", other.key)).toBe(403);

    const pub = await publishTestStream(`${ts.url}/whip/cam1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 3, audio: false, headers: { authorization: `Bearer ${key.key}` } });
    try {
      await waitFor(async () => (await fetch(`${ts.url}/api/v1/streams/cam1`, { headers: admin })).status === 200, { what: "cam1 live" });
      // the key publishes, nothing more: it cannot read the stream it feeds
      expect((await fetch(`${ts.url}/api/v1/streams/cam1`, { headers: { authorization: `Bearer ${key.key}` } })).status).toBe(403);
      await pub.done;
    } finally {
      await pub.stop();
    }
    await ts.server.recorder.flush();
    const { recordings } = await json<{ recordings: { durationMs: number }[] }>(await fetch(`${ts.url}/api/v1/recordings?stream=cam1`, { headers: admin }));
    expect(recordings.length).toBe(1);
    expect(recordings[0]!.durationMs).toBeGreaterThan(2000);

    const revoked = await fetch(`${ts.url}/api/v1/streams/cam1/keys/${key.id}`, { method: "DELETE", headers: admin });
    expect(revoked.status).toBe(204);
    expect(await whipStatus("cam1", key.key)).toBe(401);
  });
});
