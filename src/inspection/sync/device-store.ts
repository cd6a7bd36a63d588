import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { Conflict, NotFound } from "../../core/errors.js";
import type { Database } from "../../ports/database.js";
import { decodeCursor, encodeCursor } from "./cursor.js";

export interface DeviceView {
  device_id: string;
  name: string;
  platform: string;
  config: Record<string, unknown>;
  config_revision: number;
  registered_by: string | null;
  registered_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
}

/** A device the login refused: unknown, wrong secret or revoked (one answer for all three). */
export class DeviceLoginRefused extends Error {
  override name = "DeviceLoginRefused";
}

/**
 * The secret is 32 random bytes (256 bits): no guesser can search that space, so a slow password
 * hash (scrypt) would only cost every login tens of ms and buy nothing. A SHA-256 is stored and
 * compared in constant time; the secret itself is shown once, at registration.
 */
const hashSecret = (secret: string): string => createHash("sha256").update(secret, "utf8").digest("hex");
export const SECRET_PREFIX = "ifcds_";

const VIEW = `device_id, name, platform, config, config_revision, registered_by,
  to_jsonb(registered_at) #>> '{}' AS registered_at, to_jsonb(last_seen_at) #>> '{}' AS last_seen_at, to_jsonb(revoked_at) #>> '{}' AS revoked_at`;

/** Offline devices: registration (secret shown once), login check, revocation, their own config. */
export class DeviceStore {
  constructor(private readonly db: () => Promise<Database>) {}

  async register(input: { name: string; platform?: string; config?: Record<string, unknown> }, by: string): Promise<DeviceView & { secret: string }> {
    const db = await this.db();
    const id = randomUUID();
    const secret = SECRET_PREFIX + randomBytes(32).toString("base64url");
    const r = await db.query<DeviceView>(
      `INSERT INTO devices (device_id, name, platform, secret_hash, config, registered_by) VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING ${VIEW}`,
      [id, input.name, input.platform ?? "", hashSecret(secret), JSON.stringify(input.config ?? {}), by],
    );
    return { ...r.rows[0]!, secret };
  }

  /** The device, when the secret is its own and it is not revoked; its last_seen_at moves on. */
  async login(deviceId: string, secret: string): Promise<DeviceView> {
    const db = await this.db();
    const r = await db.query<{ secret_hash: string; revoked: boolean }>("SELECT secret_hash, revoked_at IS NOT NULL AS revoked FROM devices WHERE device_id = $1", [deviceId]);
    const row = r.rows[0];
    const given = Buffer.from(hashSecret(secret), "hex");
    // An unknown device costs the same comparison: the answer's timing does not tell which ids exist.
    const stored = Buffer.from(row?.secret_hash ?? "0".repeat(64), "hex");
    const ok = timingSafeEqual(given, stored) && row !== undefined;
    if (!ok || row.revoked) throw new DeviceLoginRefused(row?.revoked && ok ? "the device is revoked" : "invalid device id or secret");
    const u = await db.query<DeviceView>(`UPDATE devices SET last_seen_at = now() WHERE device_id = $1 RETURNING ${VIEW}`, [deviceId]);
    return u.rows[0]!;
  }

  async get(deviceId: string): Promise<DeviceView> {
    const db = await this.db();
    const r = await db.query<DeviceView>(`SELECT ${VIEW} FROM devices WHERE device_id = $1`, [deviceId]);
    if (!r.rows[0]) throw new NotFound("device-not-found", `no device "${deviceId}"`, { device_id: deviceId });
    return r.rows[0];
  }

  async isActive(deviceId: string): Promise<boolean> {
    const db = await this.db();
    const r = await db.query("SELECT 1 FROM devices WHERE device_id = $1 AND revoked_at IS NULL", [deviceId]);
    return r.rowCount > 0;
  }

  async list(opts: { limit: number; cursor?: string }): Promise<{ items: DeviceView[]; next_cursor: string | null; total: number }> {
    const db = await this.db();
    const after = opts.cursor ? decodeCursor(opts.cursor, ["after"] as const).after : "";
    const r = await db.query<DeviceView>(`SELECT ${VIEW} FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2`, [after, opts.limit + 1]);
    const total = await db.query<{ n: string }>("SELECT count(*)::text AS n FROM devices");
    const items = r.rows.slice(0, opts.limit);
    return { items, next_cursor: r.rows.length > opts.limit ? encodeCursor({ after: items[items.length - 1]!.device_id }) : null, total: Number(total.rows[0]!.n) };
  }

  async revoke(deviceId: string): Promise<DeviceView> {
    const db = await this.db();
    const r = await db.query<DeviceView>(`UPDATE devices SET revoked_at = coalesce(revoked_at, now()) WHERE device_id = $1 RETURNING ${VIEW}`, [deviceId]);
    if (!r.rows[0]) throw new NotFound("device-not-found", `no device "${deviceId}"`, { device_id: deviceId });
    return r.rows[0];
  }

  /** Optimistic: the write names the config_revision it read; another write since → Conflict. */
  async putConfig(deviceId: string, config: Record<string, unknown>, configRevision: number): Promise<DeviceView> {
    const db = await this.db();
    const r = await db.query<DeviceView>(
      `UPDATE devices SET config = $2::jsonb, config_revision = config_revision + 1 WHERE device_id = $1 AND config_revision = $3 RETURNING ${VIEW}`,
      [deviceId, JSON.stringify(config), configRevision],
    );
    if (r.rows[0]) return r.rows[0];
    const now = await this.get(deviceId);
    throw new Conflict("config-revision-mismatch", `the device's config is at revision ${now.config_revision}, not ${configRevision}`, { config_revision: now.config_revision });
  }
}
