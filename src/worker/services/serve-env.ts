import type { ImageServiceKind } from "./image-services.js";

/** What `npm run worker` serves, from IFC_WORKER_SERVE: "camera" is the CameraStreamService worker. */
export type WorkerRole = "camera" | ImageServiceKind;
const ROLES: readonly WorkerRole[] = ["camera", "resize", "detection", "filter"];

/**
 * IFC_WORKER_SERVE: a comma list of camera, resize, detection, filter, or "all" (default
 * "camera", the worker as it was). Image services share one gRPC server on IFC_WORKER_IMAGE_PORT.
 */
export function parseServe(v: string | undefined): WorkerRole[] {
  if (v === undefined || v.trim() === "") return ["camera"];
  if (v.trim() === "all") return [...ROLES];
  const roles = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad = roles.filter((r) => !ROLES.includes(r as WorkerRole));
  if (bad.length > 0 || roles.length === 0) throw new Error(`IFC_WORKER_SERVE must list ${ROLES.join(", ")} or be "all", got "${v}"`);
  return [...new Set(roles as WorkerRole[])];
}

/** A positive integer from the environment, or the default when unset. */
export function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}
