/**
 * Domain errors: what went wrong, in the domain's words, with no HTTP in them. Each carries a
 * stable `slug` (clients branch on it once control/ has mapped it to an RFC 7807 `type`) and
 * structured `details`. Only control/ turns them into statuses and headers.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: "invalid-input" | "unsupported" | "not-found" | "conflict" | "capacity-exceeded";
  constructor(
    readonly slug: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The caller's input breaks a rule (a name's syntax, a time's range). */
export class InvalidInput extends DomainError {
  readonly kind = "invalid-input";
}

/** Well-formed input asking for something this server does not do (a codec it cannot take). */
export class Unsupported extends DomainError {
  readonly kind = "unsupported";
}

/** The thing named does not exist (or is not live). */
export class NotFound extends DomainError {
  readonly kind = "not-found";
}

/** The request contradicts the current state (a name already taken). */
export class Conflict extends DomainError {
  readonly kind = "conflict";
}

/** A configured limit is reached; trying again later may succeed. */
export class CapacityExceeded extends DomainError {
  readonly kind = "capacity-exceeded";
  constructor(
    slug: string,
    message: string,
    /** How long a client should wait before trying again. */
    readonly retryAfterSeconds: number,
    details: Record<string, unknown> = {},
  ) {
    super(slug, message, details);
  }
}
