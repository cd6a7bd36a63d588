import type { FastifyBaseLogger } from "fastify";

type Bindings = Record<string, unknown>;
type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/**
 * A request's child logger, made on first use. Fastify makes one per request (for `reqId`) and
 * pino's child() runs its bindings through redaction: ~5 % of a `GET /api/v1/streams` in a
 * profile, for requests that mostly log nothing (request logging is off). Disabled levels never
 * make the child.
 */
export class LazyChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: Record<string, unknown>,
  ) {}

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(value: string) {
    this.logger().level = value;
  }

  fatal(...args: unknown[]): void {
    this.write("fatal", args);
  }
  error(...args: unknown[]): void {
    this.write("error", args);
  }
  warn(...args: unknown[]): void {
    this.write("warn", args);
  }
  info(...args: unknown[]): void {
    this.write("info", args);
  }
  debug(...args: unknown[]): void {
    this.write("debug", args);
  }
  trace(...args: unknown[]): void {
    this.write("trace", args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: Record<string, unknown>): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }

  private write(level: Level, args: unknown[]): void {
    const enabled = (this.parent as unknown as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled;
    if (this.made === undefined && enabled && !enabled.call(this.parent, level)) return;
    (this.logger()[level] as (...a: unknown[]) => void)(...args);
  }

  private logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }
}

/** Fastify's `childLoggerFactory` making LazyChildLoggers. */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, options: object): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options as Record<string, unknown>) as unknown as FastifyBaseLogger;
}
