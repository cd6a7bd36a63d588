import {
  status,
  type Metadata,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { assertStreamName } from "../../core/stream-name.js";
import type { RateLimitStore } from "../../ports/rate-limit-store.js";
import type { Authenticator } from "../auth/authenticator.js";
import { grants, type Permission } from "../auth/permissions.js";
import type { AuditAction, AuditSink, Principal } from "../auth/principal.js";
import { GrpcError, serviceError, toGrpcError } from "./grpc-errors.js";
import type { GrpcMetrics } from "./grpc-metrics.js";
import type { NetworkList } from "../auth/networks.js";
import { peerAddress } from "./peer-address.js";

/** What one method needs (the gRPC column of the permission table). */
export interface MethodAuth<Req> {
  /** `public`: no credentials (AuthService). */
  permission: Permission | "public";
  /** The stream a scoped grant is checked against; validated as a stream name first. */
  stream?: (req: NoInfer<Req>) => string;
}

/** What a handler gets besides its request. */
export interface CallContext {
  method: string;
  client: string;
  /** Undefined only on `public` methods. */
  principal: Principal | undefined;
  /** Records an audit entry for this call (`via: "grpc"`). */
  audit(action: AuditAction, target: string, details?: Record<string, unknown>): void;
  /** Whether the caller holds `permission` on `stream` (listings filter with it). */
  may(permission: Permission, stream: string): boolean;
}

export interface CallGuardOptions {
  authenticator: Authenticator;
  /** IFC_AUTH_ANONYMOUS_NETWORKS and what they may do. */
  anonymousNetworks: NetworkList;
  anonymousPermissions: readonly string[];
  rateLimit: { store: RateLimitStore; perMinute: number; onLimited?: () => void };
  metrics: GrpcMetrics;
  audit: AuditSink;
  log: Logger;
}

const RATE_WINDOW_MS = 60_000;

/**
 * The gRPC edge of the one security model, run before every handler: rate limit per client
 * address, credentials from `authorization: Bearer` (or anonymous from an anonymous network),
 * the method's permission, then the handler; every outcome counted, every failure logged once
 * with user and client (never the token). Handlers are wrapped rather than intercepted: the
 * checks are asynchronous and a wrapper runs them before any request is acted on.
 */
export class CallGuard {
  constructor(private readonly opts: CallGuardOptions) {}

  unary<Req, Res>(method: string, auth: MethodAuth<Req>, run: (req: Req, ctx: CallContext) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const started = process.hrtime.bigint();
      const client = peerAddress(call.getPeer());
      let principal: Principal | undefined;
      void (async () => {
        const ctx = await this.admit(method, auth, call.request, call.metadata, client, (p) => (principal = p));
        return run(call.request, ctx);
      })().then(
        (res) => {
          this.finish(method, status.OK, started);
          callback(null, res);
        },
        (err: unknown) => {
          const e = this.failed(method, err, client, principal, started);
          callback(serviceError(e.code, e.message, e.trailers));
        },
      );
    };
  }

  /**
   * A server-streaming method: `run` resolves once it has set up the stream and returns a
   * function that ends it (the server's close); the call then lasts until the client cancels,
   * the handler ends it, or the server closes.
   */
  serverStream<Req, Res>(method: string, auth: MethodAuth<Req>, run: (req: Req, ctx: CallContext, call: ServerWritableStream<Req, Res>) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>): void =>
      this.guardStream(method, call, async (client, identified) => {
        const ctx = await this.admit(method, auth, call.request, call.metadata, client, identified);
        await run(call.request, ctx, call);
      });
  }

  /**
   * A bidirectional-streaming method: the checks run before `run` sees the call, and messages
   * the client sends meanwhile wait in the (paused) stream. `run` attaches its listeners and
   * returns; the call lasts until the handler ends it, the client cancels or the server closes.
   */
  bidiStream<Req, Res>(method: string, auth: MethodAuth<undefined>, run: (ctx: CallContext, call: ServerDuplexStream<Req, Res>) => void | Promise<void>) {
    return (call: ServerDuplexStream<Req, Res>): void =>
      this.guardStream(method, call, async (client, identified) => {
        const ctx = await this.admit(method, auth, undefined, call.metadata, client, identified);
        await run(ctx, call);
      });
  }

  /**
   * What every streaming call shares: its outcome counted once (cancelled, ended with an error
   * — a watcher too far behind counts as that code — or finished), and a failure before or
   * while setting up the stream sent as the stream's error.
   */
  private guardStream(
    method: string,
    call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
    setUp: (client: string, identified: (p: Principal) => void) => Promise<void>,
  ): void {
    const started = process.hrtime.bigint();
    const client = peerAddress(call.getPeer());
    let principal: Principal | undefined;
    let done = false;
    const end = (code: status) => {
      if (done) return;
      done = true;
      this.finish(method, code, started);
    };
    call.on("cancelled", () => end(status.CANCELLED));
    call.on("error", (err: { code?: status }) => end(err.code ?? status.UNKNOWN));
    call.on("finish", () => end(status.OK));
    setUp(client, (p) => (principal = p)).catch((err: unknown) => {
      if (done) return;
      done = true;
      const e = this.failed(method, err, client, principal, started);
      call.emit("error", serviceError(e.code, e.message, e.trailers));
    });
  }

  /** `identified` learns the principal as soon as it is known, so a refusal's log line names the user. */
  private async admit<Req>(method: string, auth: MethodAuth<Req>, req: Req, metadata: Metadata, client: string, identified: (p: Principal) => void): Promise<CallContext> {
    const { rateLimit } = this.opts;
    if (rateLimit.perMinute > 0) {
      const d = await rateLimit.store.consume(`grpc:${client}`, rateLimit.perMinute, RATE_WINDOW_MS);
      if (!d.allowed) {
        rateLimit.onLimited?.();
        throw new GrpcError(status.RESOURCE_EXHAUSTED, `more than ${rateLimit.perMinute} gRPC calls per minute from ${client} (IFC_GRPC_RATE_LIMIT_PER_MINUTE)`, {
          "retry-after-ms": String(d.retryAfterMs),
          "problem-type": "urn:imageflowcanvas:problem:rate-limited",
        });
      }
    }
    const principal = auth.permission === "public" ? undefined : await this.principalOf(metadata, client);
    if (principal && auth.permission !== "public") {
      identified(principal);
      if (!grants(principal.permissions, auth.permission)) throw denied(auth.permission);
      if (auth.stream) {
        const stream = auth.stream(req);
        assertStreamName(stream);
        if (!grants(principal.permissions, auth.permission, stream)) throw denied(auth.permission, stream);
      }
    }
    return {
      method,
      client,
      principal,
      audit: (action, target, details) =>
        this.opts.audit.record({ action, who: principal?.subject ?? "anonymous", from: client, target, via: "grpc", ...(details ? { details } : {}) }),
      may: (permission, stream) => principal !== undefined && grants(principal.permissions, permission, stream),
    };
  }

  private async principalOf(metadata: Metadata, client: string): Promise<Principal> {
    const values = metadata.get("authorization");
    if (values.length === 0) {
      if (this.opts.anonymousNetworks.has(client)) {
        return { kind: "anonymous", subject: "anonymous", permissions: this.opts.anonymousPermissions, client };
      }
      throw new GrpcError(status.UNAUTHENTICATED, "credentials required: metadata `authorization: Bearer <access token>` (AuthService.Authenticate issues one)", {
        "problem-type": "urn:imageflowcanvas:problem:unauthorized",
      });
    }
    const m = values.length === 1 && typeof values[0] === "string" ? /^Bearer +(\S+)\s*$/i.exec(values[0]) : null;
    if (!m?.[1]) {
      throw new GrpcError(status.UNAUTHENTICATED, "malformed authorization metadata: expected `Bearer <token>`", { "problem-type": "urn:imageflowcanvas:problem:unauthorized", "auth-failure": "malformed" });
    }
    return this.opts.authenticator.verifyBearer(m[1], client);
  }

  private finish(method: string, code: status, started: bigint): void {
    this.opts.metrics.observe(method, code, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private failed(method: string, err: unknown, client: string, principal: Principal | undefined, started: bigint) {
    const e = toGrpcError(err);
    this.finish(method, e.code, started);
    const fields = { method, code: status[e.code], client, ...(principal ? { user: principal.subject } : {}) };
    // The message never holds a credential: verifyBearer's errors name the reason, not the token.
    if (e.internal) this.opts.log.error({ ...fields, err }, "gRPC call failed");
    else this.opts.log.warn({ ...fields, reason: e.message }, "gRPC call refused");
    return e;
  }
}

function denied(permission: Permission, stream?: string): GrpcError {
  return new GrpcError(status.PERMISSION_DENIED, `permission ${permission} is not granted${stream ? ` on stream "${stream}"` : ""}`, {
    "problem-type": "urn:imageflowcanvas:problem:forbidden",
  });
}
