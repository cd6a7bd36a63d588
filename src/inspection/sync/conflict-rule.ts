/**
 * THE offline-sync conflict rule, as a pure function over revisions.
 *
 * Master-data rows (targets, items, rules, standards, products) carry a `revision`. A device's
 * change names the revision it was made against (`base_revision`, null for a row it created):
 * - the row does not exist: an upsert with no base creates it (revision 1); a delete has nothing
 *   to remove and applies as a no-op; an upsert naming a base is a conflict (someone removed it
 *   for good, or the device is confused) — kept, never guessed at;
 * - the row exists and base_revision equals its revision: the change applies (revision + 1;
 *   a delete is a soft delete, a tombstone for the other devices);
 * - anything else (an older base, a newer one, or no base against an existing row): a conflict.
 *   The server's row stays and the device's change is stored whole for a person to decide.
 *
 * Sessions and results are append-only under the device's own ids and never conflict.
 */
export type Op = "upsert" | "delete";

export interface ServerRow {
  revision: number;
  deleted: boolean;
}

export type Decision =
  | { action: "insert" }
  | { action: "update"; nextRevision: number }
  | { action: "soft-delete"; nextRevision: number }
  | { action: "noop" }
  | { action: "conflict"; serverRevision: number | null };

export function decideChange(op: Op, baseRevision: number | null, server: ServerRow | undefined): Decision {
  if (!server) {
    if (op === "delete") return { action: "noop" };
    return baseRevision === null ? { action: "insert" } : { action: "conflict", serverRevision: null };
  }
  if (baseRevision === null || baseRevision !== server.revision) return { action: "conflict", serverRevision: server.revision };
  // Deleting a row already deleted at the very revision the device saw: nothing changes.
  if (op === "delete") return server.deleted ? { action: "noop" } : { action: "soft-delete", nextRevision: server.revision + 1 };
  return { action: "update", nextRevision: server.revision + 1 };
}
