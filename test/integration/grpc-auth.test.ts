import { readFile } from "node:fs/promises";
import path from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthServiceClient,
  IngestControlClient,
  type KickStreamResponse,
  type ListStreamsResponse,
  type TokenResponse,
} from "../../src/generated/imageflow/v1/ingest_control.js";
import { whipPublish } from "../helpers/whip-client.js";
import { grpcError, unary } from "../support/grpc-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * The gRPC control server as startServer wires it: the real LocalAuthenticator (users file,
 * RS256 keys, publish keys), anonymous access off. The native-client flow end to end.
 */
let ts: TestServer;
let control: IngestControlClient;
let auth: AuthServiceClient;

beforeAll(async () => {
  ts = await startTestServer({ grpcEnabled: true, authAnonymousNetworks: [], metricsNetworks: ["127.0.0.0/8"] }); // /metrics read below without credentials
  const port = ts.server.grpc?.port;
  if (!port) throw new Error("gRPC not started");
  control = new IngestControlClient(`127.0.0.1:${port}`, credentials.createInsecure());
  auth = new AuthServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(async () => {
  control?.close();
  auth?.close();
  await ts?.stop();
});

describe("gRPC with the real authenticator", () => {
  it("Authenticate as the first admin, call with the access token, Refresh rotates; a viewer is denied KickStream", async () => {
    const password = (await readFile(path.join(ts.dataDir, "initial-admin-password"), "utf8")).trim();
    const t = await unary<TokenResponse>(auth, "authenticate", { username: "admin", password });
    expect(t.tokenType).toBe("Bearer");
    expect(t.expiresIn).toBe(8 * 3600);
    expect((await unary<ListStreamsResponse>(control, "listStreams", {}, t.accessToken)).streams).toEqual([]);
    expect((await grpcError(unary(control, "listStreams", {}))).code).toBe(status.UNAUTHENTICATED);
    expect((await grpcError(unary(auth, "authenticate", { username: "admin", password: `${password}x` }))).code).toBe(status.UNAUTHENTICATED);

    const next = await unary<TokenResponse>(auth, "refresh", { refreshToken: t.refreshToken });
    expect(next.refreshToken).not.toBe(t.refreshToken);
    // A spent refresh token is refused (and revokes its family).
    expect((await grpcError(unary(auth, "refresh", { refreshToken: t.refreshToken }))).code).toBe(status.UNAUTHENTICATED);

    await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1");
    const viewer = await unary<TokenResponse>(auth, "authenticate", { username: "vera", password: "vera-password-1" });
    const pub = await whipPublish(`${ts.url}/whip/cam1`, { audio: false, headers: { authorization: `Bearer ${t.accessToken}` } });
    try {
      expect((await unary<ListStreamsResponse>(control, "listStreams", {}, viewer.accessToken)).streams.map((s) => s.name)).toEqual(["cam1"]);
      expect((await grpcError(unary(control, "kickStream", { stream: "cam1" }, viewer.accessToken))).code).toBe(status.PERMISSION_DENIED);
      // A publish key is a credential for publishing its stream, nothing else.
      const key = await ts.server.auth.publishKeys.create("cam1", { createdBy: "admin" });
      expect((await grpcError(unary(control, "getStream", { stream: "cam1" }, key.key))).code).toBe(status.PERMISSION_DENIED);
      expect(await unary<KickStreamResponse>(control, "kickStream", { stream: "cam1" }, next.accessToken)).toEqual({ stream: "cam1", kicked: true });
    } finally {
      await pub.close();
    }
  });

  it("/metrics carries the gRPC call counts", async () => {
    const text = await (await fetch(`${ts.url}/metrics`)).text();
    expect(text).toMatch(/ifc_grpc_calls_total\{method="KickStream",code="PERMISSION_DENIED"\} 1/);
    expect(text).toMatch(/ifc_grpc_call_duration_seconds_bucket\{le="[^"]+",method="Authenticate"\} \d+/);
  });

  it("the gRPC rate limit as startServer wires it: the 3rd call of 2 per minute is refused and counted in ifc_rate_limited_total", async () => {
    const limited = await startTestServer({ grpcEnabled: true, grpcRateLimitPerMinute: 2 });
    const c = new IngestControlClient(`127.0.0.1:${limited.server.grpc?.port ?? 0}`, credentials.createInsecure());
    try {
      await unary(c, "listStreams", {});
      await unary(c, "listStreams", {});
      expect((await grpcError(unary(c, "listStreams", {}))).code).toBe(status.RESOURCE_EXHAUSTED);
      const text = await (await fetch(`${limited.url}/metrics`)).text();
      expect(text).toMatch(/ifc_rate_limited_total\{surface="grpc"\} 1/);
      expect(text).toMatch(/ifc_grpc_calls_total\{method="ListStreams",code="RESOURCE_EXHAUSTED"\} 1/);
    } finally {
      c.close();
      await limited.stop();
    }
  });
});
