import { EVENT_SCHEMA_VERSION, type BusEvent } from "../../../ports/event-bus.js";

/**
 * The JSON of a Kafka message: the event's value with three envelope fields beside it, so an
 * external consumer reads the documents' shape directly. The envelope fields win over a value
 * field of the same name and are taken off again when the message is read back.
 */
export const ENVELOPE_FIELDS = ["schema_version", "node_id", "produced_at"] as const;

export function encodeEvent(event: BusEvent, nodeId: string, now: number): string {
  return JSON.stringify({ ...event.value, schema_version: EVENT_SCHEMA_VERSION, node_id: nodeId, produced_at: now });
}

export type Decoded = { ok: true; event: BusEvent; schemaVersion: number } | { ok: false; error: string };

/** A message back into a BusEvent; a value that is not a JSON object with a schema version is an error (dead-lettered by the caller). */
export function decodeMessage(topic: string, key: Buffer | null, value: Buffer | null): Decoded {
  if (!value) return { ok: false, error: "message without a value" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch (err) {
    return { ok: false, error: `value is not JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { ok: false, error: "value is not a JSON object" };
  const record = { ...(parsed as Record<string, unknown>) };
  const schemaVersion = record.schema_version;
  if (typeof schemaVersion !== "number") return { ok: false, error: "value has no numeric schema_version" };
  for (const f of ENVELOPE_FIELDS) delete record[f];
  return { ok: true, event: { topic, key: key?.toString("utf8") ?? "", value: record }, schemaVersion };
}
