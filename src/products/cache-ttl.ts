/**
 * The design documents' cache strategy (server backend design §2.3.4), exactly:
 * - product master: write-through, 1 h;
 * - QR lookups: lazy-load, 30 min;
 * - search results: cache-aside, 5 min;
 * - inspection rules: write-through, 2 h.
 */
export const CACHE_TTL_MS = {
  product: 60 * 60_000,
  qr: 30 * 60_000,
  search: 5 * 60_000,
  rules: 2 * 60 * 60_000,
} as const;

export type CacheName = keyof typeof CACHE_TTL_MS;
