import { randomUUID } from "node:crypto";
import { Conflict, InvalidInput, NotFound } from "../../core/errors.js";
import { DatabaseUnavailableError, UniqueViolationError, type Database, type Queryable } from "../../ports/database.js";
import { decideChange, type Op } from "./conflict-rule.js";
import { decodeCursor, encodeCursor, invalidCursor, isMicros } from "./cursor.js";
import { columnValues, entityDef, MASTER, placeholder, WHOLE_MASTER, type EntityDef } from "./entities.js";

/** One change made offline, as a device uploads it. */
export interface DeviceChange {
  change_id: string;
  entity: string;
  op: Op;
  id: string;
  base_revision: number | null;
  data: Record<string, unknown>;
  changed_at: string;
}

export interface ConflictView {
  conflict_id: string;
  change_id: string;
  entity: string;
  id: string;
  base_revision: number | null;
  server_revision: number | null;
  /** The server's row as it stands (null when it does not exist). */
  server_data: Record<string, unknown> | null;
}

/** A kept conflict as listed: the device's change whole in `payload`. */
export interface StoredConflict {
  conflict_id: string;
  device_id: string;
  entity: string;
  entity_id: string;
  base_revision: number | null;
  server_revision: number | null;
  payload: Record<string, unknown>;
  created_at: string;
  resolved_at: string | null;
}

export type Outcome = "applied" | "conflict" | "rejected";

export interface ApplyResult {
  results: { change_id: string; outcome: Outcome; duplicate: boolean; revision: number | null; reason?: string }[];
  applied: string[];
  duplicates: string[];
  conflicts: ConflictView[];
  rejected: { change_id: string; reason: string }[];
}

export interface ChangeRow {
  entity: string;
  id: string;
  revision: number;
  updated_at: string;
  deleted: boolean;
  /** The row; absent on a tombstone. */
  data?: Record<string, unknown>;
}

/**
 * A timestamp read from now() is its transaction's start, so a row committed just after a read
 * can carry an earlier updated_at than the read saw. `server_time` steps back this much: a device
 * may see a row twice (its revision tells), never miss one.
 */
export const CHANGES_OVERLAP_MS = 5000;

const micros = (col: string): string => `(extract(epoch from ${col}) * 1000000)::bigint::text`;
const fromMicros = (n: number): string => `(timestamptz 'epoch' + ($${n}::bigint) * interval '1 microsecond')`;

/**
 * Offline devices' sync over the shared metadata database: master data download and changes
 * since a time (tombstones included), offline changes applied by the conflict rule
 * (conflict-rule.ts), idempotent per (device, change_id), and the conflicts kept for people.
 */
export class SyncStore {
  constructor(private readonly db: () => Promise<Database>) {}

  /** Whole master data (first page only) and products `pageSize` at a time. */
  async download(opts: { pageSize: number; cursor?: string }): Promise<{
    server_time: string; masters: Record<string, Record<string, unknown>[]> | undefined; products: Record<string, unknown>[]; next_cursor: string | null; total_products: number;
  }> {
    const db = await this.db();
    const c = opts.cursor ? decodeCursor(opts.cursor, ["after", "t", "n"] as const) : undefined;
    if (c && (!isMicros(c.t) || !/^[0-9]{1,12}$/.test(c.n))) throw invalidCursor();
    const t = c?.t ?? (await this.serverMicros(db));
    let masters: Record<string, Record<string, unknown>[]> | undefined;
    if (!c) {
      masters = {};
      for (const def of WHOLE_MASTER) {
        const r = await db.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(t) AS row FROM ${def.table} t WHERE deleted_at IS NULL ORDER BY ${def.idColumn}`);
        masters[def.entity] = r.rows.map((x) => x.row);
      }
    }
    const r = await db.query<{ id: string; row: Record<string, unknown> }>(
      `SELECT p.product_id AS id, to_jsonb(p) || jsonb_build_object('specs', coalesce((SELECT jsonb_object_agg(s.key, s.value) FROM product_specs s WHERE s.product_id = p.product_id), '{}'::jsonb)) AS row
       FROM products p WHERE p.deleted_at IS NULL AND p.product_id > $1 ORDER BY p.product_id LIMIT $2`,
      [c?.after ?? "", opts.pageSize + 1],
    );
    const page = r.rows.slice(0, opts.pageSize);
    // Counted once per download (the first page) and carried on: a count per page of 100 000 rows adds up.
    const n = c?.n ?? (await db.query<{ n: string }>("SELECT count(*)::text AS n FROM products WHERE deleted_at IS NULL")).rows[0]!.n;
    return {
      server_time: isoOfMicros(t),
      masters,
      products: page.map((x) => x.row),
      next_cursor: r.rows.length > opts.pageSize ? encodeCursor({ after: page[page.length - 1]!.id, t, n }) : null,
      total_products: Number(n),
    };
  }

  /** Master rows whose updated_at is after `since`, tombstones included, by (updated_at, entity, id). */
  async changes(opts: { since?: string; cursor?: string; limit: number }): Promise<{ items: ChangeRow[]; next_cursor: string | null; server_time: string }> {
    const db = await this.db();
    let after: { u: string; e: string; i: string; t: string };
    if (opts.cursor) {
      after = decodeCursor(opts.cursor, ["u", "e", "i", "t"] as const);
      if (!isMicros(after.u) || !isMicros(after.t)) throw invalidCursor();
    } else {
      const ms = opts.since === undefined ? Number.NaN : Date.parse(opts.since);
      if (!Number.isFinite(ms)) throw new InvalidInput("invalid-since", "since must be an ISO 8601 time (or pass the cursor of a previous page)", { since: opts.since ?? null });
      // Strictly after `since`: from the next microsecond on, every entity and id.
      after = { u: String(ms * 1000 + 1), e: "", i: "", t: await this.serverMicros(db) };
    }
    // Each table answers its own first limit+1 rows after the cursor (its keyset comparison made
    // here, the entity being a constant per table), so a page costs a top-N per table, not a sort
    // of every row after the cursor: a bulk import shares one updated_at over 100 000 rows.
    const unions = MASTER.map((def) => {
      const cmp = def.entity > after.e ? `updated_at >= ${fromMicros(1)}` : def.entity === after.e ? `(updated_at > ${fromMicros(1)} OR (updated_at = ${fromMicros(1)} AND ${def.idColumn} > $2::text))` : `updated_at > ${fromMicros(1)}`;
      return `(SELECT '${def.entity}'::text AS entity, ${def.idColumn}::text AS id, revision, ${micros("updated_at")} AS us, deleted_at IS NOT NULL AS deleted, to_jsonb(t) AS row
       FROM ${def.table} t WHERE ${cmp} ORDER BY updated_at, ${def.idColumn} LIMIT $3)`;
    });
    const r = await db.query<{ entity: string; id: string; revision: number; us: string; deleted: boolean; row: Record<string, unknown> }>(
      // ($2 is typed here as well: on a first page no table compares ids.)
      `SELECT * FROM (${unions.join(" UNION ALL ")}) c WHERE $2::text IS NOT NULL ORDER BY c.us::bigint, c.entity COLLATE "C", c.id LIMIT $3`,
      [after.u, after.i, opts.limit + 1],
    );
    const page = r.rows.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((x) => ({
        entity: x.entity, id: x.id, revision: x.revision, updated_at: isoOfMicros(x.us), deleted: x.deleted, ...(x.deleted ? {} : { data: x.row }),
      })),
      next_cursor: r.rows.length > opts.limit && last ? encodeCursor({ u: last.us, e: last.entity, i: last.id, t: after.t }) : null,
      server_time: isoOfMicros(after.t),
    };
  }

  /**
   * Applies a batch from `origin` (the caller's subject: `device:<id>` for a device) in order, each change in its own transaction: one bad change is
   * reported, not a reason to lose the others. A change seen before (same device, change_id)
   * applies nothing and answers its first outcome again.
   */
  async apply(origin: string, changes: readonly DeviceChange[]): Promise<ApplyResult> {
    for (const ch of changes) validate(ch);
    const db = await this.db();
    const out: ApplyResult = { results: [], applied: [], duplicates: [], conflicts: [], rejected: [] };
    for (const ch of changes) {
      const first = await this.applyOnce(db, origin, ch);
      const o = parseOutcome(first.outcome);
      out.results.push({ change_id: ch.change_id, outcome: o.outcome, duplicate: first.duplicate, revision: o.revision, ...(o.reason !== undefined ? { reason: o.reason } : {}) });
      if (first.duplicate) out.duplicates.push(ch.change_id);
      if (o.outcome === "applied") out.applied.push(ch.change_id);
      else if (o.outcome === "rejected") out.rejected.push({ change_id: ch.change_id, reason: o.reason ?? "" });
      else out.conflicts.push(await this.conflictView(db, o.conflictId!, ch));
    }
    return out;
  }

  async listConflicts(opts: { status: "open" | "resolved" | "all"; limit: number; cursor?: string }): Promise<{ items: StoredConflict[]; next_cursor: string | null; total: number }> {
    const db = await this.db();
    const c = opts.cursor ? decodeCursor(opts.cursor, ["u", "i"] as const) : undefined;
    if (c && !isMicros(c.u)) throw invalidCursor();
    const where = opts.status === "open" ? "resolved_at IS NULL" : opts.status === "resolved" ? "resolved_at IS NOT NULL" : "true";
    const r = await db.query<StoredConflict & { us: string }>(
      `SELECT conflict_id, ${micros("created_at")} AS us, device_id, entity, entity_id, base_revision, server_revision, payload, to_jsonb(created_at) #>> '{}' AS created_at, to_jsonb(resolved_at) #>> '{}' AS resolved_at
       FROM sync_conflicts WHERE ${where} AND (${micros("created_at")}::bigint, conflict_id) > ($1::bigint, $2::text)
       ORDER BY created_at, conflict_id LIMIT $3`,
      [c?.u ?? "-1", c?.i ?? "", opts.limit + 1],
    );
    const total = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM sync_conflicts WHERE ${where}`);
    const page = r.rows.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(({ us: _us, ...rest }) => rest),
      next_cursor: r.rows.length > opts.limit && last ? encodeCursor({ u: last.us, i: last.conflict_id }) : null,
      total: Number(total.rows[0]!.n),
    };
  }

  /**
   * A person's decision on a kept conflict: keep_server closes it; take_device applies the
   * device's stored change over the row as it stands now (revision + 1), never blindly at the old base.
   */
  async resolve(conflictId: string, resolution: "keep_server" | "take_device", by: string): Promise<{ conflict_id: string; resolution: string; entity: string; id: string; revision: number | null; server_data: Record<string, unknown> | null }> {
    const db = await this.db();
    return db.transaction(async (tx) => {
      const r = await tx.query<{ entity: string; entity_id: string; payload: DeviceChange; resolved_at: unknown }>(
        "SELECT entity, entity_id, payload, resolved_at FROM sync_conflicts WHERE conflict_id = $1 FOR UPDATE", [conflictId]);
      const row = r.rows[0];
      if (!row) throw new NotFound("conflict-not-found", `no sync conflict "${conflictId}"`, { conflict_id: conflictId });
      if (row.resolved_at !== null) throw new Conflict("conflict-resolved", `sync conflict "${conflictId}" is already resolved`, { conflict_id: conflictId });
      const def = entityDef(row.entity);
      if (resolution === "take_device") await this.forceApply(tx, def, row.payload);
      await tx.query("UPDATE sync_conflicts SET resolved_at = now(), payload = payload || jsonb_build_object('resolution', $2::text, 'resolved_by', $3::text) WHERE conflict_id = $1", [conflictId, resolution, by]);
      const now = await this.serverRow(tx, def, row.entity_id);
      return { conflict_id: conflictId, resolution, entity: row.entity, id: row.entity_id, revision: now ? (now.revision as number) : null, server_data: now };
    });
  }

  private async forceApply(tx: Queryable, def: EntityDef, ch: DeviceChange): Promise<void> {
    if (ch.op === "delete") {
      await tx.query(`UPDATE ${def.table} SET revision = revision + 1, updated_at = now(), deleted_at = now() WHERE ${def.idColumn} = $1 AND deleted_at IS NULL`, [ch.id]);
      return;
    }
    const { columns, values } = columnValues(def, ch.data);
    const upd = await tx.query(
      `UPDATE ${def.table} SET ${columns.map((c, i) => `${c} = ${placeholder(def.columns[c]!, i + 2)}, `).join("")}revision = revision + 1, updated_at = now(), deleted_at = NULL WHERE ${def.idColumn} = $1`,
      [ch.id, ...values],
    );
    if (upd.rowCount === 0) await this.insert(tx, def, ch.id, columns, values, {});
  }

  private async applyOnce(db: Database, origin: string, ch: DeviceChange): Promise<{ outcome: string; duplicate: boolean }> {
    const seen = await this.seen(db, origin, ch.change_id);
    if (seen !== undefined) return { outcome: seen, duplicate: true };
    try {
      const outcome = await db.transaction(async (tx) => {
        const o = await this.applyChange(tx, origin, ch).catch((err: unknown) => {
          if (err instanceof DatabaseUnavailableError) throw err;
          throw new Rejected(err instanceof Error ? err.message : String(err));
        });
        await tx.query("INSERT INTO sync_applied (device_id, change_id, outcome) VALUES ($1, $2, $3)", [origin, ch.change_id, o]);
        return o;
      });
      return { outcome, duplicate: false };
    } catch (err) {
      // The same change racing in from a retry: the other one recorded it first.
      if (err instanceof UniqueViolationError) {
        const again = await this.seen(db, origin, ch.change_id);
        if (again !== undefined) return { outcome: again, duplicate: true };
      }
      if (!(err instanceof Rejected)) throw err;
      // The row's own write failed (a missing target, a NOT NULL field): recorded, so a retry
      // answers the same, and reported, never dropped in silence.
      const outcome = `rejected:${err.message.slice(0, 500)}`;
      await db.query("INSERT INTO sync_applied (device_id, change_id, outcome) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [origin, ch.change_id, outcome]);
      return { outcome: (await this.seen(db, origin, ch.change_id)) ?? outcome, duplicate: false };
    }
  }

  private async seen(db: Queryable, origin: string, changeId: string): Promise<string | undefined> {
    const r = await db.query<{ outcome: string }>("SELECT outcome FROM sync_applied WHERE device_id = $1 AND change_id = $2", [origin, changeId]);
    return r.rows[0]?.outcome;
  }

  /** The change's write, or its conflict kept; returns the outcome to record. */
  private async applyChange(tx: Queryable, origin: string, ch: DeviceChange): Promise<string> {
    const def = entityDef(ch.entity);
    const { columns, values } = columnValues(def, ch.data);
    if (def.kind === "append-only") return this.appendOnly(tx, def, origin, ch, columns, values);
    const cur = await tx.query<{ revision: number; deleted: boolean }>(
      `SELECT revision, deleted_at IS NOT NULL AS deleted FROM ${def.table} WHERE ${def.idColumn} = $1 FOR UPDATE`, [ch.id]);
    const d = decideChange(ch.op, ch.base_revision, cur.rows[0]);
    switch (d.action) {
      case "noop":
        return `applied:${cur.rows[0]?.revision ?? ""}`;
      case "insert":
        await this.insert(tx, def, ch.id, columns, values, {});
        return "applied:1";
      case "update":
        await tx.query(
          `UPDATE ${def.table} SET ${columns.map((c, i) => `${c} = ${placeholder(def.columns[c]!, i + 3)}, `).join("")}revision = $2, updated_at = now(), deleted_at = NULL WHERE ${def.idColumn} = $1`,
          [ch.id, d.nextRevision, ...values],
        );
        return `applied:${d.nextRevision}`;
      case "soft-delete":
        await tx.query(`UPDATE ${def.table} SET revision = $2, updated_at = now(), deleted_at = now() WHERE ${def.idColumn} = $1`, [ch.id, d.nextRevision]);
        return `applied:${d.nextRevision}`;
      case "conflict": {
        const conflictId = randomUUID();
        await tx.query(
          "INSERT INTO sync_conflicts (conflict_id, device_id, entity, entity_id, base_revision, server_revision, payload) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
          [conflictId, origin, ch.entity, ch.id, ch.base_revision, d.serverRevision, JSON.stringify(ch)],
        );
        return `conflict:${conflictId}`;
      }
    }
  }

  /**
   * Sessions and results are made on the device under its own ids: they never conflict. A device
   * may amend its own session (notes, completion); a result, once written, stays as written.
   */
  private async appendOnly(tx: Queryable, def: EntityDef, origin: string, ch: DeviceChange, columns: string[], values: unknown[]): Promise<string> {
    if (def.entity === "inspection_session") {
      const existing = await tx.query<{ device_id: string | null }>("SELECT device_id FROM inspection_sessions WHERE session_id = $1 FOR UPDATE", [ch.id]);
      const row = existing.rows[0];
      if (!row) {
        await this.insert(tx, def, ch.id, columns, values, { device_id: origin });
        return "applied:1";
      }
      if (row.device_id !== origin) throw new Rejected(`session "${ch.id}" exists and was not made by this device`);
      const r = await tx.query<{ revision: number }>(
        `UPDATE inspection_sessions SET ${columns.map((c, i) => `${c} = ${placeholder(def.columns[c]!, i + 2)}, `).join("")}revision = revision + 1, updated_at = now() WHERE session_id = $1 RETURNING revision`,
        [ch.id, ...values],
      );
      return `applied:${r.rows[0]!.revision}`;
    }
    const r = await this.insert(tx, def, ch.id, columns, values, { created_by: origin }, true);
    if (r === 0) throw new Rejected(`${def.entity} "${ch.id}" already exists; results are never rewritten`);
    return "applied:1";
  }

  private async insert(tx: Queryable, def: EntityDef, id: string, columns: string[], values: unknown[], extra: Record<string, string>, ignoreExisting = false): Promise<number> {
    const extraCols = Object.keys(extra);
    const all = [def.idColumn, ...columns, ...extraCols];
    const params = [id, ...values, ...Object.values(extra)];
    const ph = all.map((c, i) => (i === 0 || i > columns.length ? `$${i + 1}::text` : placeholder(def.columns[c]!, i + 1)));
    const r = await tx.query(`INSERT INTO ${def.table} (${all.join(", ")}) VALUES (${ph.join(", ")})${ignoreExisting ? " ON CONFLICT DO NOTHING" : ""}`, params);
    return r.rowCount;
  }

  private async serverRow(db: Queryable, def: EntityDef, id: string): Promise<Record<string, unknown> | null> {
    const r = await db.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(t) AS row FROM ${def.table} t WHERE ${def.idColumn} = $1`, [id]);
    return r.rows[0]?.row ?? null;
  }

  private async conflictView(db: Queryable, conflictId: string, ch: DeviceChange): Promise<ConflictView> {
    const server = await this.serverRow(db, entityDef(ch.entity), ch.id);
    const r = await db.query<{ server_revision: number | null; base_revision: number | null }>("SELECT server_revision, base_revision FROM sync_conflicts WHERE conflict_id = $1", [conflictId]);
    return {
      conflict_id: conflictId, change_id: ch.change_id, entity: ch.entity, id: ch.id,
      base_revision: r.rows[0]?.base_revision ?? ch.base_revision,
      // The row as it is now: what the device must merge against (it may have moved on since).
      server_revision: server ? (server.revision as number) : null,
      server_data: server,
    };
  }

  private async serverMicros(db: Queryable): Promise<string> {
    const r = await db.query<{ us: string }>(`SELECT ${micros(`now() - interval '${CHANGES_OVERLAP_MS} milliseconds'`)} AS us`);
    return r.rows[0]!.us;
  }
}

/** A change whose write the database refused: reported per change, the batch goes on. */
class Rejected extends Error {}

function validate(ch: DeviceChange): void {
  const def = entityDef(ch.entity);
  if (def.kind === "append-only" && ch.op === "delete") {
    throw new InvalidInput("append-only-entity", `${def.entity} is append-only: a device cannot delete one (change ${ch.change_id})`, { change_id: ch.change_id, entity: ch.entity });
  }
  columnValues(def, ch.data);
}

function parseOutcome(s: string): { outcome: Outcome; revision: number | null; conflictId?: string; reason?: string } {
  const [kind, ...rest] = s.split(":");
  const tail = rest.join(":");
  if (kind === "conflict") return { outcome: "conflict", revision: null, conflictId: tail };
  if (kind === "rejected") return { outcome: "rejected", revision: null, reason: tail };
  return { outcome: "applied", revision: tail === "" ? null : Number(tail) };
}

function isoOfMicros(us: string): string {
  return new Date(Number(BigInt(us) / 1000n)).toISOString();
}
