import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { credentials, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseStack } from "../../src/composition/close-stack.js";
import { buildGrpcControl } from "../../src/composition/grpc.js";
import { loadConfig, type Config } from "../../src/config.js";
import type { GrpcControlServer } from "../../src/control/grpc/grpc-control-server.js";
import { IngestControlClient, type ListStreamsResponse } from "../../src/generated/imageflow/v1/ingest_control.js";
import { grpcError, unary } from "../support/grpc-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { makeTestCertificate, type TestCertificate } from "../support/test-ca.js";

/** gRPC over TLS with a throwaway CA: handshake, TLS versions, certificate reload without a restart. */
let ts: TestServer;
let dir: string;
let a: TestCertificate;
let b: TestCertificate;
const stacks: CloseStack[] = [];
const clients: IngestControlClient[] = [];
const live = { cert: "", key: "" };

beforeAll(async () => {
  ts = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), "ifc-grpc-tls-"));
  [a, b] = await Promise.all([makeTestCertificate(dir, "a"), makeTestCertificate(dir, "b")]);
  live.cert = path.join(dir, "live-cert.pem");
  live.key = path.join(dir, "live-key.pem");
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of stacks.splice(0)) await s.close();
  await ts?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function install(cert: TestCertificate): Promise<void> {
  await copyFile(cert.certFile, live.cert);
  await copyFile(cert.keyFile, live.key);
}

async function tlsServer(overrides: Partial<Config> = {}): Promise<GrpcControlServer> {
  const config = loadConfig({}, { grpcEnabled: true, grpcHost: "127.0.0.1", grpcPort: 0, tlsCert: live.cert, tlsKey: live.key, ...overrides });
  const stack = new CloseStack();
  stacks.push(stack);
  const s = ts.server;
  const server = await buildGrpcControl(config, pino({ level: "silent" }), stack, { registry: s.registry, recorder: s.recorder, catalog: s.catalog, clips: s.clips, ingest: s.ingest, ai: undefined });
  if (!server) throw new Error("gRPC disabled");
  return server;
}

function client(port: number, ca?: TestCertificate): IngestControlClient {
  // SNI carries a host name (RFC 6066): the certificate's `localhost`, over 127.0.0.1.
  const c = ca
    ? new IngestControlClient(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(ca.ca)), { "grpc.ssl_target_name_override": "localhost" })
    : new IngestControlClient(`127.0.0.1:${port}`, credentials.createInsecure());
  clients.push(c);
  return c;
}

/** The TLS version a raw handshake agrees on (h2 as gRPC offers it), or the error. */
function handshake(port: number, ca: TestCertificate, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", servername: "localhost", port, ca: ca.ca, ALPNProtocols: ["h2"], ...opts }, () => {
      resolve(socket.getProtocol() ?? "");
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

describe("gRPC over TLS", () => {
  it("serves TLS with IFC_TLS_CERT/KEY; TLSv1.2 is the floor (Node's default minimum, set explicitly)", async () => {
    await install(a);
    const server = await tlsServer();
    expect(server.tls).toBe(true);
    expect(tls.DEFAULT_MIN_VERSION).toBe("TLSv1.2");
    expect((await unary<ListStreamsResponse>(client(server.port, a), "listStreams", {})).streams).toEqual([]);
    expect((await grpcError(unary(client(server.port), "listStreams", {}))).code).toBe(status.UNAVAILABLE);
    expect(await handshake(server.port, a, { maxVersion: "TLSv1.2" })).toBe("TLSv1.2");
    expect(await handshake(server.port, a, {})).toBe("TLSv1.3");
  });

  it("IFC_TLS_MIN_VERSION=TLSv1.3 refuses a TLSv1.2 client", async () => {
    await install(a);
    const server = await tlsServer({ tlsMinVersion: "TLSv1.3" });
    await expect(handshake(server.port, a, { maxVersion: "TLSv1.2" })).rejects.toThrow();
    expect(await handshake(server.port, a, {})).toBe("TLSv1.3");
  });

  it("reload() swaps the certificate for new connections, keeps open ones, and keeps the old one when the new files are bad", async () => {
    await install(a);
    const server = await tlsServer();
    const before = client(server.port, a);
    expect((await unary<ListStreamsResponse>(before, "listStreams", {})).streams).toEqual([]);

    await install(b);
    await server.reload();
    // The open connection carries on; new handshakes see the new certificate.
    expect((await unary<ListStreamsResponse>(before, "listStreams", {})).streams).toEqual([]);
    expect((await unary<ListStreamsResponse>(client(server.port, b), "listStreams", {})).streams).toEqual([]);
    expect((await grpcError(unary(client(server.port, a), "listStreams", {}))).code).toBe(status.UNAVAILABLE);

    // A key that does not match the certificate: refused, the current certificate stays.
    await copyFile(a.certFile, live.cert);
    await expect(server.reload()).rejects.toThrow();
    expect((await unary<ListStreamsResponse>(client(server.port, b), "listStreams", {})).streams).toEqual([]);
  });

  it("as startServer wires it: HTTPS and gRPC share the certificate, and server.reloadTls() (SIGHUP) swaps both", async () => {
    await install(a);
    const full = await startTestServer({ grpcEnabled: true, tlsCert: live.cert, tlsKey: live.key });
    try {
      const port = full.server.grpc?.port ?? 0;
      expect(full.server.grpc?.tls).toBe(true);
      expect((await unary<ListStreamsResponse>(client(port, a), "listStreams", {})).streams).toEqual([]);
      await install(b);
      expect(await full.server.reloadTls()).toBe(true);
      expect((await unary<ListStreamsResponse>(client(port, b), "listStreams", {})).streams).toEqual([]);
      expect((await grpcError(unary(client(port, a), "listStreams", {}))).code).toBe(status.UNAVAILABLE);
    } finally {
      await full.stop();
    }
  });
});
