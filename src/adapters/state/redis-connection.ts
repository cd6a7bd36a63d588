import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { StateUnavailableError } from "../../ports/state-errors.js";

export interface RedisConnectionOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** A command not answered within this fails (default 2000 ms): a hung store never hangs a caller. */
  commandTimeoutMs?: number;
  /**
   * Longest wait for a connection being (re)established before a call fails (default 2000 ms);
   * while the client is between reconnect attempts, calls fail at once.
   */
  connectTimeoutMs?: number;
  /** Reconnect backoff cap (default 1000 ms): the backoff doubles from 50 ms up to it. */
  maxReconnectDelayMs?: number;
  /** Told of connection errors (log them); ioredis emits one per failed reconnect attempt. */
  onError?: (err: Error) => void;
  /** Told each time the connection is (re)established. */
  onReady?: () => void;
}

/** Reply errors that mean "not now" rather than "wrong command". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** Reconnect backoff: 50 ms doubling per failed attempt (`attempt` from 1), capped at `maxMs`. */
export function reconnectDelayMs(attempt: number, maxMs: number): number {
  return Math.min(maxMs, 50 * 2 ** Math.min(Math.max(0, attempt - 1), 16));
}

function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === "ReplyError";
}

/**
 * One ioredis client shared by the state adapters, set up to fail fast: no offline queue (a
 * command while disconnected is refused, not parked until the store returns), no resend of
 * commands in flight when the link dropped, a per-command timeout, and a capped reconnect
 * backoff so the client is back soon after the store is. Every failure to reach the store
 * becomes a StateUnavailableError.
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly connectTimeoutMs: number;

  constructor(opts: RedisConnectionOptions) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    const maxDelay = opts.maxReconnectDelayMs ?? 1000;
    this.client = new Redis(opts.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: this.connectTimeoutMs,
      retryStrategy: (times) => reconnectDelayMs(times, maxDelay),
    });
    const onError = opts.onError ?? (() => undefined);
    // Without a listener ioredis prints every reconnect failure to the console.
    this.client.on("error", (err: Error) => onError(err));
    const onReady = opts.onReady;
    if (onReady) this.client.on("ready", () => onReady());
  }

  /** Runs `fn` on the client; connection failures and timeouts become StateUnavailableError. */
  async run<T>(operation: string, fn: (client: Redis) => Promise<T>): Promise<T> {
    if (this.client.status !== "ready") await this.waitReady(operation);
    try {
      return await fn(this.client);
    } catch (err) {
      if (isReplyError(err) && !TRANSIENT_REPLY.test(err.message)) throw err; // a bug, not an outage
      throw new StateUnavailableError(operation, { cause: err });
    }
  }

  /** Connected and answering now (readiness probes). */
  get connected(): boolean {
    return this.client.status === "ready";
  }

  /** Resolves once connected (startup: lets the composition fail early on a wrong URL). */
  async ready(): Promise<void> {
    if (this.client.status !== "ready") await this.waitReady("connect");
  }

  async close(): Promise<void> {
    if (this.client.status === "end") return;
    if (this.client.status === "ready") {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }

  /**
   * Waits for "ready" only while a connection attempt is under way (bounded); between attempts
   * (store down) or after close it throws at once.
   */
  private waitReady(operation: string): Promise<void> {
    const c = this.client;
    if (c.status !== "wait" && c.status !== "connecting" && c.status !== "connect") {
      return Promise.reject(new StateUnavailableError(operation, { cause: new Error(`redis connection is ${c.status}`) }));
    }
    if (c.status === "wait") c.connect().catch(() => undefined);
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        c.off("ready", onReady);
        c.off("close", onClose);
        if (err) reject(new StateUnavailableError(operation, { cause: err }));
        else resolve();
      };
      const onReady = (): void => done();
      const onClose = (): void => done(new Error("redis connection closed"));
      const timer = setTimeout(() => done(new Error(`not connected within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      c.once("ready", onReady);
      c.once("close", onClose);
    });
  }
}

/**
 * A Lua script run by its SHA (EVALSHA), loaded again with EVAL when the store answers NOSCRIPT
 * (it restarted and forgot its script cache). Scripts run atomically: no other command runs
 * between their reads and writes.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isReplyError(err) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
