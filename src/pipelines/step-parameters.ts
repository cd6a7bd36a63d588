/**
 * The parameters a step is called with. Execution parameters (POST /executions `parameters`)
 * come flat, as in the documents' example (`{"confidence_threshold": 0.8}`), or scoped to one
 * step (`{"detect": {"confidence_threshold": 0.8}}`).
 */
import type { ComponentCatalog } from "./components.js";
import type { PipelineStep } from "./definition.js";

export const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Property names the component of `step` declares; undefined when unknown (no catalog, or an open schema). */
export function declaredParameters(step: PipelineStep, catalog?: ComponentCatalog): Set<string> | undefined {
  const schema = catalog?.find(step.service, step.method)?.parameters_schema as { properties?: Record<string, unknown> } | undefined;
  return schema?.properties ? new Set(Object.keys(schema.properties)) : undefined;
}

/**
 * The parameters a step is called with: its definition's, overridden by the execution's flat
 * keys (only those its component declares, when a catalog is given), overridden by the
 * execution's `{ <step_id>: {...} }` entry.
 */
export function stepParameters(step: PipelineStep, stepIds: ReadonlySet<string>, execution: Record<string, unknown> = {}, catalog?: ComponentCatalog): Record<string, unknown> {
  const declared = declaredParameters(step, catalog);
  const flat: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(execution)) {
    if (stepIds.has(k) && isPlainObject(v)) continue;
    if (declared && !declared.has(k)) continue;
    flat[k] = v;
  }
  const scoped = execution[step.step_id];
  return { ...step.parameters, ...flat, ...(isPlainObject(scoped) ? scoped : {}) };
}

