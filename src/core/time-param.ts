import { BadRequestError } from "../errors.js";

/** A time in a query or body: ISO 8601 or epoch milliseconds. */
export function parseTime(value: string, name: string): number {
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new BadRequestError(`${name}: "${value.slice(0, 40)}" is neither ISO 8601 nor epoch milliseconds`, "invalid-time");
  return ms;
}
