/**
 * Free space on the file system that holds the recordings' local bytes (the fs store's root, or
 * the S3 upload spool). Owned by the retention cleaner, which evicts when it runs low.
 */
export interface FreeSpaceProbe {
  /** The directory whose file system is measured (for logs). */
  readonly path: string;
  /** Bytes an unprivileged writer can still use there. */
  freeBytes(): Promise<number>;
}

/** What the cleaner last saw of the disk, read by /metrics at scrape time. */
export interface DiskSpaceStats {
  /** The directory measured (undefined when the check is off). */
  path: string | undefined;
  /** Free bytes at the last check; undefined before the first check or when the check is off. */
  freeBytes: number | undefined;
  /** IFC_RETENTION_MIN_FREE_BYTES (0: no check). */
  minFreeBytes: number;
  /** True from the pass that found free space below the minimum until one finds it back above. */
  low: boolean;
  /** Rolling segments deleted because the disk was low (not by age or byte caps). */
  lowEvictions: number;
  /** Times free space went below the minimum (each logged once). */
  lowEpisodes: number;
}
