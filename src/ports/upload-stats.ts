/** Figures of uploads to the object store, as the metrics endpoint reads them. */
export interface UploadFigures {
  /** Objects waiting for upload (memory and spool). */
  queuedObjects: number;
  /** Bytes waiting for upload in memory. */
  memoryBytes: number;
  /** Bytes waiting for upload in the local spool. */
  spoolBytes: number;
  /** Objects uploaded since start (cumulative). */
  uploaded: number;
  /** Failed upload attempts since start (cumulative). */
  failures: number;
}

/**
 * What an uploading object store reports (the S3 spool implements it), so the control plane
 * reads upload figures without knowing the adapter.
 */
export interface UploadStats {
  readonly stats: UploadFigures;
  /** Upload lags (ms from accepted to stored) since the last call; each is returned once. */
  takeLags(): number[];
}
