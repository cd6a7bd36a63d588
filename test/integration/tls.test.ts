import { X509Certificate } from "node:crypto";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { httpsFetch } from "../support/https-fetch.js";
import { spawnServer, startTestServer, type TestServer } from "../support/server-harness.js";
import { makeTestCertificate, type TestCertificate } from "../support/test-ca.js";
import { waitFor } from "../support/wait-for.js";

let dir = "";
let certA: TestCertificate;
let certB: TestCertificate;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-tls-"));
  [certA, certB] = await Promise.all([makeTestCertificate(dir, "a"), makeTestCertificate(dir, "b")]);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let ts: TestServer | undefined;
let pub: TestStreamPublisher | undefined;
afterEach(async () => {
  await pub?.stop().catch(() => undefined);
  pub = undefined;
  await ts?.stop();
  ts = undefined;
});

/** The files the server is configured with, holding certificate `c` (a reload swaps their content). */
async function liveFiles(c: TestCertificate): Promise<{ tlsCert: string; tlsKey: string }> {
  const tlsCert = path.join(dir, "live-cert.pem");
  const tlsKey = path.join(dir, "live-key.pem");
  await copyFile(c.certFile, tlsCert);
  await copyFile(c.keyFile, tlsKey);
  return { tlsCert, tlsKey };
}

/** One TLS handshake to the server: resolves with the certificate it presented, rejects on a handshake error. */
function handshake(url: string, opts: { ca?: string; minVersion?: "TLSv1" | "TLSv1.2"; maxVersion?: "TLSv1.1" | "TLSv1.2" | "TLSv1.3"; ciphers?: string }): Promise<{ cert: PeerCertificate; protocol: string | null }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), servername: "localhost", ...opts }, () => {
      const result = { cert: socket.getPeerCertificate(), protocol: socket.getProtocol() };
      socket.end();
      resolve(result);
    });
    socket.once("error", reject);
  });
}

/** The error a promise rejects with (undefined if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

const fingerprint = (c: TestCertificate) => new X509Certificate(c.cert).fingerprint256;

describe("HTTPS (IFC_TLS_CERT / IFC_TLS_KEY)", () => {
  it("serves HTTPS with HSTS on every answer (errors too), and no plain HTTP on its port", async () => {
    ts = await startTestServer(await liveFiles(certA));
    expect(ts.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const f = httpsFetch(certA.ca);
    const health = await f(`${ts.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("strict-transport-security")).toBe("max-age=15552000");
    const missing = await f(`${ts.url}/api/v1/streams/nosuch`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("strict-transport-security")).toBe("max-age=15552000");
    // plain HTTP to the HTTPS port gets no HTTP answer
    expect(await rejection(fetch(ts.url.replace("https:", "http:") + "/health"))).toBeInstanceOf(Error);
  });

  it("sends no HSTS header with IFC_HSTS_MAX_AGE_S=0", async () => {
    ts = await startTestServer({ ...(await liveFiles(certA)), hstsMaxAgeS: 0 });
    const res = await httpsFetch(certA.ca)(`${ts.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("strict-transport-security")).toBeNull();
  });

  it("refuses a TLS 1.1 client, accepts 1.2; with IFC_TLS_MIN_VERSION=TLSv1.3 refuses 1.2", async () => {
    ts = await startTestServer(await liveFiles(certA));
    // SECLEVEL=0 lets this client really offer TLS 1.1, so the refusal is the server's
    const old = await rejection(handshake(ts.url, { ca: certA.ca, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }));
    expect(old).toBeInstanceOf(Error);
    expect(String((old as Error).message)).toMatch(/protocol version|unsupported protocol|wrong version/i);
    expect((await handshake(ts.url, { ca: certA.ca, maxVersion: "TLSv1.2" })).protocol).toBe("TLSv1.2");
    await ts.stop();
    ts = await startTestServer({ ...(await liveFiles(certA)), tlsMinVersion: "TLSv1.3" });
    expect(await rejection(handshake(ts.url, { ca: certA.ca, maxVersion: "TLSv1.2" }))).toBeInstanceOf(Error);
    expect((await handshake(ts.url, { ca: certA.ca })).protocol).toBe("TLSv1.3");
  });

  it("publishes over HTTPS WHIP, and a certificate reload serves the new certificate to new connections while the publisher keeps publishing", async () => {
    const files = await liveFiles(certA);
    ts = await startTestServer(files);
    pub = await publishTestStream(`${ts.url}/whip/tls-cam`, { width: 320, height: 240, fps: 15, durationSeconds: 60, audio: false, fetch: httpsFetch(certA.ca) });
    const live = () => ts?.server.registry.get("tls-cam")?.stats().framesReceived ?? 0;
    await waitFor(() => live() > 5, { what: "frames from the HTTPS publisher" });
    expect((await handshake(ts.url, { ca: certA.ca })).cert.fingerprint256).toBe(fingerprint(certA));

    // a bad file is refused: the old certificate stays
    await writeFile(files.tlsCert, "not a certificate");
    expect(await ts.server.reloadTls()).toBe(false);
    expect((await handshake(ts.url, { ca: certA.ca })).cert.fingerprint256).toBe(fingerprint(certA));

    await liveFiles(certB);
    expect(await ts.server.reloadTls()).toBe(true);
    const after = await handshake(ts.url, { ca: certB.ca });
    expect(after.cert.fingerprint256).toBe(fingerprint(certB));
    // a client trusting only the old CA now fails
    expect(await rejection(handshake(ts.url, { ca: certA.ca }))).toBeInstanceOf(Error);
    // still TLS ≥ 1.2 after the reload
    expect(await rejection(handshake(ts.url, { ca: certB.ca, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }))).toBeInstanceOf(Error);

    // the media session was not dropped: its frames keep arriving, and REST over the new certificate sees it
    const atReload = live();
    await waitFor(() => live() > atReload + 10, { what: "frames after the reload" });
    const stream = await httpsFetch(certB.ca)(`${ts.url}/api/v1/streams/tls-cam`);
    expect(stream.status).toBe(200);
    // the session resource is deleted over a connection with the new certificate
    const del = await httpsFetch(certB.ca)(new URL(pub.resourceUrl, ts.url).toString(), { method: "DELETE" });
    expect(del.status).toBe(200);
    await waitFor(async () => (await httpsFetch(certB.ca)(`${ts!.url}/api/v1/streams/tls-cam`)).status === 404, { what: "the session ended" });
  }, 60_000);

  it("main reloads the certificate on SIGHUP and keeps running", async () => {
    const files = await liveFiles(certA);
    const proc = await spawnServer({ IFC_TLS_CERT: files.tlsCert, IFC_TLS_KEY: files.tlsKey });
    try {
      expect(proc.url).toMatch(/^https:/);
      expect((await handshake(proc.url, { ca: certA.ca })).cert.fingerprint256).toBe(fingerprint(certA));
      await liveFiles(certB);
      proc.child.kill("SIGHUP");
      await waitFor(() => proc.output().includes("TLS certificate reloaded"), { what: "the reload log line" });
      expect((await handshake(proc.url, { ca: certB.ca })).cert.fingerprint256).toBe(fingerprint(certB));
      expect((await httpsFetch(certB.ca)(`${proc.url}/health`)).status).toBe(200);
    } finally {
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);
});
