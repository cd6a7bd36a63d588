/**
 * Validates a pipeline definition as a DAG and reports every problem at once, each under the
 * JSON path of the field at fault (`steps[1].depends_on[0]`), so a client fixes its definition
 * in one round trip instead of one error at a time.
 */
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { InvalidInput } from "../core/errors.js";
import type { ComponentCatalog } from "./components.js";
import { declaredParameters, isPlainObject, stepParameters } from "./step-parameters.js";
import { normalizeDefinition, pipelineDefinitionSchema, resolveLimits, type PipelineDefinition, type PipelineDefinitionInput, type PipelineLimits } from "./definition.js";

export interface ValidationError {
  /** JSON path of the field, e.g. `steps[2].parameters.confidence_threshold`; "" for the whole body. */
  field: string;
  message: string;
  value?: unknown;
}

/** A definition that is not a valid pipeline; `errors` lists every failing field. */
export class PipelineValidationError extends InvalidInput {
  constructor(readonly errors: ValidationError[]) {
    super("pipeline-validation", `pipeline definition is invalid: ${errors.length} error(s), first: ${errors[0] ? describe(errors[0]) : "none"}`, {
      validation_errors: errors,
    });
  }
}

const describe = (e: ValidationError): string => (e.field ? `${e.field}: ${e.message}` : e.message);

/** `/steps/1/depends_on/0` → `steps[1].depends_on[0]` (JSON Pointer escapes undone). */
export function pointerToPath(pointer: string, prefix = ""): string {
  let out = prefix;
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  }
  return out;
}

const join = (base: string, key: string): string => (base === "" ? key : `${base}.${key}`);

function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  for (const raw of pointer.split("/").slice(1)) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[raw.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return v;
}

/** Schema errors of `value`, one per failing field, under `prefix`. */
export function schemaErrors(schema: TSchema, value: unknown, prefix = ""): ValidationError[] {
  const out: ValidationError[] = [];
  const seen = new Set<string>();
  const push = (e: ValidationError): void => {
    const key = `${e.field}\u0000${e.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(e);
    }
  };
  for (const e of Value.Errors(schema, value)) {
    const base = pointerToPath(e.instancePath, prefix);
    const params = e.params as Record<string, unknown>;
    if (e.keyword === "required" && Array.isArray(params.requiredProperties)) {
      for (const p of params.requiredProperties) push({ field: join(base, String(p)), message: "is required" });
    } else if (e.keyword === "additionalProperties" && Array.isArray(params.additionalProperties)) {
      for (const p of params.additionalProperties) {
        push({ field: join(base, String(p)), message: "is not a known property", value: valueAt(value, `${e.instancePath}/${String(p)}`) });
      }
    } else if (e.keyword === "boolean") {
      // "schema is false" repeats, per property, what the additionalProperties error already said.
      continue;
    } else {
      push({ field: base, message: e.message, value: valueAt(value, e.instancePath) });
    }
  }
  return out;
}

// Building the schema costs more than checking a definition against it: one per distinct limits.
const schemas = new Map<string, ReturnType<typeof pipelineDefinitionSchema>>();
function schemaFor(limits: PipelineLimits): ReturnType<typeof pipelineDefinitionSchema> {
  const l = resolveLimits(limits);
  const key = `${l.maxSteps}/${l.maxTimeoutMs}/${l.maxRetryCount}`;
  let schema = schemas.get(key);
  if (!schema) {
    schema = pipelineDefinitionSchema(l);
    schemas.set(key, schema);
  }
  return schema;
}

interface StepLike {
  index: number;
  step_id: string | undefined;
  service: unknown;
  method: unknown;
  parameters: unknown;
  depends_on: unknown[];
}

function stepsOf(def: unknown): StepLike[] {
  if (def === null || typeof def !== "object") return [];
  const steps = (def as Record<string, unknown>).steps;
  if (!Array.isArray(steps)) return [];
  return steps.map((s: unknown, index) => {
    const o = s !== null && typeof s === "object" ? (s as Record<string, unknown>) : {};
    return {
      index,
      step_id: typeof o.step_id === "string" ? o.step_id : undefined,
      service: o.service,
      method: o.method,
      parameters: o.parameters,
      depends_on: Array.isArray(o.depends_on) ? o.depends_on : [],
    };
  });
}

/**
 * Every problem of `def` (an untrusted body): schema errors, duplicate step ids, unknown or self
 * dependencies, cycles (naming their steps), unknown services or methods, and parameters that fail
 * their component's schema. Empty when the definition is valid.
 */
export function validatePipeline(def: unknown, catalog: ComponentCatalog, limits: PipelineLimits = {}): ValidationError[] {
  const errors = schemaErrors(schemaFor(limits), def);
  const steps = stepsOf(def);

  // Step ids: the first occurrence owns the id; later ones are duplicates.
  const indexById = new Map<string, number>();
  for (const s of steps) {
    if (s.step_id === undefined) continue;
    const first = indexById.get(s.step_id);
    if (first === undefined) indexById.set(s.step_id, s.index);
    else errors.push({ field: `steps[${s.index}].step_id`, message: `duplicate step_id (first at steps[${first}])`, value: s.step_id });
  }

  // Dependencies: the edges that survive these checks feed the cycle search.
  const edges = new Map<number, number[]>();
  for (const s of steps) {
    const targets: number[] = [];
    const listed = new Set<string>();
    s.depends_on.forEach((d, k) => {
      const field = `steps[${s.index}].depends_on[${k}]`;
      if (typeof d !== "string") return; // the schema error covers it
      if (listed.has(d)) {
        errors.push({ field, message: "dependency listed twice", value: d });
        return;
      }
      listed.add(d);
      if (d === s.step_id) errors.push({ field, message: "a step cannot depend on itself", value: d });
      else if (!indexById.has(d)) errors.push({ field, message: `unknown step "${d}"`, value: d });
      else targets.push(indexById.get(d) as number);
    });
    edges.set(s.index, targets);
  }
  for (const cycle of findCycles(steps.length, edges)) {
    const names = cycle.map((i) => steps[i]?.step_id ?? `#${i}`);
    errors.push({
      field: `steps[${cycle[0]}].depends_on`,
      message: `dependency cycle: ${[...names, names[0]].join(" → ")}`,
      value: names,
    });
  }

  // Services, methods and parameters.
  const services = catalog.services();
  for (const s of steps) {
    if (typeof s.service !== "string" || typeof s.method !== "string") continue;
    if (!services.includes(s.service)) {
      errors.push({ field: `steps[${s.index}].service`, message: `unknown service (known: ${services.join(", ")})`, value: s.service });
      continue;
    }
    const component = catalog.find(s.service, s.method);
    if (!component) {
      errors.push({ field: `steps[${s.index}].method`, message: `unknown method of ${s.service} (known: ${catalog.methodsOf(s.service).join(", ")})`, value: s.method });
      continue;
    }
    if (s.parameters === undefined || (s.parameters !== null && typeof s.parameters === "object" && !Array.isArray(s.parameters))) {
      errors.push(...schemaErrors(component.parameters_schema, s.parameters ?? {}, `steps[${s.index}].parameters`));
    }
  }
  return errors;
}

/** The definition with its defaults, or PipelineValidationError listing every problem. */
export function parsePipeline(def: unknown, catalog: ComponentCatalog, limits: PipelineLimits = {}): PipelineDefinition {
  const errors = validatePipeline(def, catalog, limits);
  if (errors.length > 0) throw new PipelineValidationError(errors);
  return normalizeDefinition(def as PipelineDefinitionInput);
}

/**
 * One cycle per strongly connected component of more than one step (Tarjan), each as the step
 * indices along an actual cycle, starting from the SCC's lowest index.
 */
function findCycles(n: number, edges: Map<number, number[]>): number[][] {
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const sccs: number[][] = [];
  let counter = 0;
  // Iterative, so a long chain of steps cannot overflow the call stack.
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    const work: { v: number; i: number }[] = [{ v: root, i: 0 }];
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (work.length > 0) {
      const top = work[work.length - 1] as { v: number; i: number };
      const next = (edges.get(top.v) ?? [])[top.i++];
      if (next !== undefined) {
        if (index[next] === -1) {
          index[next] = low[next] = counter++;
          stack.push(next);
          onStack[next] = true;
          work.push({ v: next, i: 0 });
        } else if (onStack[next]) {
          low[top.v] = Math.min(low[top.v] as number, index[next] as number);
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low[parent.v] = Math.min(low[parent.v] as number, low[top.v] as number);
      if (low[top.v] === index[top.v]) {
        const scc: number[] = [];
        for (;;) {
          const w = stack.pop() as number;
          onStack[w] = false;
          scc.push(w);
          if (w === top.v) break;
        }
        if (scc.length > 1) sccs.push(scc);
      }
    }
  }
  return sccs.map((scc) => cycleWithin(new Set(scc), edges)).sort((a, b) => (a[0] as number) - (b[0] as number));
}

/** A path from the SCC's lowest step back to itself, through steps of the SCC only. */
function cycleWithin(scc: Set<number>, edges: Map<number, number[]>): number[] {
  const start = Math.min(...scc);
  const prev = new Map<number, number>();
  const queue = [start];
  // Breadth first: the shortest cycle through `start` is the easiest to read.
  while (queue.length > 0) {
    const v = queue.shift() as number;
    for (const w of edges.get(v) ?? []) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0] as number) as number);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...scc].sort((a, b) => a - b);
}

/**
 * Problems of an execution's `parameters` for a valid definition, under `parameters.<key>` (flat)
 * or `parameters.<step_id>.<key>` (scoped): each step's merged parameters must still satisfy its
 * component's schema, and a flat key no step declares is refused rather than silently dropped.
 */
export function validateExecutionParameters(def: PipelineDefinition, parameters: unknown, catalog: ComponentCatalog): ValidationError[] {
  if (parameters === undefined) return [];
  if (!isPlainObject(parameters)) return [{ field: "parameters", message: "must be an object", value: parameters }];
  const ids = new Set(def.steps.map((s) => s.step_id));
  const errors: ValidationError[] = [];
  const seen = new Set<string>();
  const declaredAnywhere = new Set<string>();
  let allKnown = true;
  for (const step of def.steps) {
    const declared = declaredParameters(step, catalog);
    if (declared) declared.forEach((k) => declaredAnywhere.add(k));
    else allKnown = false;
    const component = catalog.find(step.service, step.method);
    if (!component) continue;
    const scoped = isPlainObject(parameters[step.step_id]) ? (parameters[step.step_id] as Record<string, unknown>) : {};
    for (const e of schemaErrors(component.parameters_schema, stepParameters(step, ids, parameters, catalog))) {
      // Blame the execution's value that overrode the definition's: the definition itself was valid when saved.
      const key = e.field.split(/[.[]/)[0] ?? "";
      const field = key in scoped ? `parameters.${step.step_id}.${e.field}` : key in parameters ? `parameters.${e.field}` : `steps[${def.steps.indexOf(step)}].parameters.${e.field}`;
      if (seen.has(field)) continue;
      seen.add(field);
      errors.push({ ...e, field });
    }
  }
  for (const [k, v] of Object.entries(parameters)) {
    if (ids.has(k) && isPlainObject(v)) continue;
    if (allKnown && !declaredAnywhere.has(k)) errors.push({ field: `parameters.${k}`, message: "is not a parameter of any step of this pipeline", value: v });
  }
  return errors;
}
