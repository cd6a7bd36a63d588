import { InvalidInput } from "./errors.js";

/** Stream names are path segments and object-key prefixes, so keep them plain. */
export const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Names that would collide with the object store's own prefixes: clips, and the auth directory
 * (signing keys, sessions, publish keys) that defaults to `<data dir>/auth` beside the streams.
 */
const RESERVED_NAMES = new Set(["clips", "auth"]);

export function assertStreamName(name: string): void {
  if (!STREAM_NAME.test(name) || RESERVED_NAMES.has(name)) {
    throw new InvalidInput("invalid-stream-name", `stream name "${name.slice(0, 80)}" must match [A-Za-z0-9_-]{1,64}`, { name: name.slice(0, 80) });
  }
}
