import { InvalidInput } from "../core/errors.js";
import type { Queryable } from "../ports/database.js";
import { finalOrder } from "./session-store.js";

/** Longest range one statistics request may cover (days, both ends included). */
export const MAX_STATISTICS_DAYS = 366;
/** Longest range of hourly quality trends (hours). */
export const MAX_TREND_HOURS = 31 * 24;

const DAY_MS = 86_400_000;

/**
 * Final judgements (one per session and item: a person's overrides the AI's) of the inspections
 * that began in [from, to): an inspection is dated by its first judgement, counted by its last.
 */
const FINALS = `
  WITH keys AS (
    SELECT DISTINCT session_id, COALESCE(item_id, '') AS k FROM inspection_results WHERE created_at >= $1 AND created_at < $2
  ), firsts AS (
    SELECT r.session_id, COALESCE(r.item_id, '') AS k, min(r.created_at) AS at FROM inspection_results r
      JOIN keys ON keys.session_id = r.session_id AND keys.k = COALESCE(r.item_id, '')
      GROUP BY 1, 2 HAVING min(r.created_at) >= $1
  ), finals AS (
    SELECT DISTINCT ON (r.session_id, COALESCE(r.item_id, '')) r.session_id, r.result, r.defect_types, r.created_by, f.at
      FROM inspection_results r JOIN firsts f ON f.session_id = r.session_id AND f.k = COALESCE(r.item_id, '')
      ORDER BY r.session_id, COALESCE(r.item_id, ''), ${finalOrder("r")}
  )`;

export interface Statistics {
  summary: { total_inspections: number; ok_count: number; ng_count: number; ok_rate: number | null };
  daily_trends: { date: string; total: number; ok: number; ng: number }[];
  defect_analysis: Record<string, number>;
}

export interface TrendBucket {
  hour: string;
  total: number;
  ok: number;
  ng: number;
  ok_rate: number | null;
}

/** Percent with one decimal; null when nothing was inspected (100 % of nothing would mislead a dashboard). */
export const percent = (part: number, whole: number): number | null => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : null);

/** `YYYY-MM-DD` (UTC) → epoch ms of its midnight, or InvalidInput. */
function day(value: string, field: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== value) throw new InvalidInput("invalid-date", `${field} must be a date YYYY-MM-DD`, { field, value });
  return ms;
}

/** start_date..end_date (UTC days, both included; defaults: the 30 days ending today) as [from, to). */
export function statisticsRange(startDate: string | undefined, endDate: string | undefined, now: number): { from: number; to: number } {
  const end = endDate ? day(endDate, "end_date") : Math.floor(now / DAY_MS) * DAY_MS;
  const start = startDate ? day(startDate, "start_date") : end - 29 * DAY_MS;
  if (start > end) throw new InvalidInput("invalid-date-range", "start_date is after end_date", { field: "start_date" });
  const days = (end - start) / DAY_MS + 1;
  if (days > MAX_STATISTICS_DAYS) throw new InvalidInput("date-range-too-long", `the range covers ${days} days; at most ${MAX_STATISTICS_DAYS}`, { field: "end_date", limit: MAX_STATISTICS_DAYS });
  return { from: start, to: end + DAY_MS };
}

/** from..to (epoch ms) as whole hours [from, to), at most MAX_TREND_HOURS. */
export function trendRange(fromMs: number | undefined, toMs: number | undefined, now: number): { from: number; to: number } {
  const HOUR = 3_600_000;
  const to = Math.ceil((toMs ?? now) / HOUR) * HOUR;
  const from = Math.floor((fromMs ?? to - 24 * HOUR) / HOUR) * HOUR;
  if (from >= to) throw new InvalidInput("invalid-time-range", "from must be before to", { field: "from" });
  const hours = (to - from) / HOUR;
  if (hours > MAX_TREND_HOURS) throw new InvalidInput("time-range-too-long", `the range covers ${hours} hours; at most ${MAX_TREND_HOURS}`, { field: "to", limit: MAX_TREND_HOURS });
  return { from, to };
}

/** Inspection statistics (API design §6.2.1) and hourly quality trends (§6.2.2). */
export class InspectionStatistics {
  constructor(private readonly db: Queryable) {}

  async statistics(range: { from: number; to: number }): Promise<Statistics> {
    const params = [new Date(range.from), new Date(range.to)];
    const daily = await this.db.query<{ date: string; total: number; ok: number; ng: number }>(
      `${FINALS} SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date, count(*)::int AS total,
         (count(*) FILTER (WHERE result = 'OK'))::int AS ok, (count(*) FILTER (WHERE result = 'NG'))::int AS ng
       FROM finals GROUP BY 1 ORDER BY 1`,
      params,
    );
    const defects = await this.db.query<{ cls: string; n: number }>(
      `${FINALS} SELECT d.cls, count(*)::int AS n FROM finals, jsonb_array_elements_text(finals.defect_types) AS d(cls) WHERE result = 'NG' GROUP BY 1 ORDER BY 2 DESC, 1`,
      params,
    );
    const trends = daily.rows.map((r) => ({ date: r.date, total: Number(r.total), ok: Number(r.ok), ng: Number(r.ng) }));
    const ok = trends.reduce((s, t) => s + t.ok, 0);
    const ng = trends.reduce((s, t) => s + t.ng, 0);
    return {
      summary: { total_inspections: ok + ng, ok_count: ok, ng_count: ng, ok_rate: percent(ok, ok + ng) },
      daily_trends: trends,
      defect_analysis: Object.fromEntries(defects.rows.map((r) => [r.cls, Number(r.n)])),
    };
  }

  /** One bucket per hour of the range, empty hours included. */
  async hourly(range: { from: number; to: number }): Promise<TrendBucket[]> {
    const rows = await this.db.query<{ hour: Date; ok: number; ng: number }>(
      `${FINALS} SELECT date_trunc('hour', at) AS hour, (count(*) FILTER (WHERE result = 'OK'))::int AS ok, (count(*) FILTER (WHERE result = 'NG'))::int AS ng
       FROM finals GROUP BY 1`,
      [new Date(range.from), new Date(range.to)],
    );
    const byHour = new Map(rows.rows.map((r) => [new Date(r.hour).getTime(), r]));
    const out: TrendBucket[] = [];
    for (let h = range.from; h < range.to; h += 3_600_000) {
      const r = byHour.get(h);
      const ok = Number(r?.ok ?? 0);
      const ng = Number(r?.ng ?? 0);
      out.push({ hour: new Date(h).toISOString(), total: ok + ng, ok, ng, ok_rate: percent(ok, ok + ng) });
    }
    return out;
  }

  /** The final judgements of inspections begun in the window: what the quality monitor starts from. */
  async recentFinals(range: { from: number; to: number }): Promise<{ key: string; at: number; ng: boolean; inspector: string | null }[]> {
    const r = await this.db.query<{ session_id: string; k: string; result: string; at: Date; inspector: string | null }>(
      `${FINALS.replace("r.session_id, r.result,", "r.session_id, COALESCE(r.item_id, '') AS k, r.result,")}
       SELECT finals.session_id, finals.k, finals.result, finals.at, s.inspector FROM finals JOIN inspection_sessions s ON s.session_id = finals.session_id ORDER BY finals.at`,
      [new Date(range.from), new Date(range.to)],
    );
    return r.rows.map((x) => ({ key: `${x.session_id}/${x.k}`, at: new Date(x.at).getTime(), ng: x.result === "NG", inspector: x.inspector }));
  }
}
