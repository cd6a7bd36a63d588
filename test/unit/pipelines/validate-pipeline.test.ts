import { Type } from "typebox";
import { describe, expect, it } from "vitest";
import { ComponentCatalog, REFERENCE_COMPONENTS } from "../../../src/pipelines/components.js";
import { parsePipeline, pointerToPath, PipelineValidationError, validateExecutionParameters, validatePipeline, type ValidationError } from "../../../src/pipelines/validate-pipeline.js";

const catalog = new ComponentCatalog();

function def(steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { pipeline_id: "quality-inspection-v1", name: "Quality inspection", version: "1.0.0", steps, ...extra };
}
const resize = (id = "resize", deps: string[] = []) => ({ step_id: id, service: "ResizeService", method: "Resize", parameters: { target_width: 640 }, depends_on: deps });
const detect = (id = "detect", deps: string[] = []) => ({ step_id: id, service: "AIDetectionService", method: "Detect", parameters: { confidence_threshold: 0.5 }, depends_on: deps });
const filter = (id = "filter", deps: string[] = []) => ({ step_id: id, service: "FilterService", method: "ApplyFilter", parameters: { filter_type: "blur", parameters: { sigma: "2" } }, depends_on: deps });

const fields = (errs: ValidationError[]): string[] => errs.map((e) => e.field).sort();

describe("validatePipeline", () => {
  it("accepts resize → detect → filter and fills defaults", () => {
    const body = def([resize(), detect("detect", ["resize"]), filter("filter", ["detect"])]);
    expect(validatePipeline(body, catalog)).toEqual([]);
    const parsed = parsePipeline(body, catalog);
    expect(parsed.execution_mode).toBe("direct_grpc");
    expect(parsed.error_handling).toEqual({ strategy: "fail_fast", rollback_enabled: false, notification_on_failure: false });
    expect(parsed.steps[0]).toMatchObject({ timeout_ms: 5000, retry_count: 3, depends_on: [] });
  });

  it("names the steps of a cycle, and reports a self-dependency separately", () => {
    const errs = validatePipeline(def([resize("a", ["c"]), detect("b", ["a"]), filter("c", ["b"]), resize("d", ["d"])]), catalog);
    expect(errs).toHaveLength(2);
    const cycle = errs.find((e) => e.message.startsWith("dependency cycle"));
    expect(cycle?.field).toBe("steps[0].depends_on");
    expect(cycle?.message).toBe("dependency cycle: a → c → b → a");
    expect(cycle?.value).toEqual(["a", "c", "b"]);
    expect(errs.find((e) => e !== cycle)).toMatchObject({ field: "steps[3].depends_on[0]", message: "a step cannot depend on itself", value: "d" });
  });

  it("reports two separate cycles as two errors", () => {
    const errs = validatePipeline(def([resize("a", ["b"]), resize("b", ["a"]), resize("c", ["d"]), resize("d", ["c"]), resize("e", ["a"])]), catalog);
    expect(errs.map((e) => e.message)).toEqual(["dependency cycle: a → b → a", "dependency cycle: c → d → c"]);
  });

  it("reports unknown dependencies, duplicate ids, unknown services and methods, bad parameters: all at once", () => {
    const body = def([
      resize("resize"),
      { ...detect("detect", ["resize", "nope"]), parameters: { confidence_threshold: 1.5, target_classes: ["qr_code", 3] } },
      { step_id: "resize", service: "CropService", method: "Crop" },
      { step_id: "f", service: "FilterService", method: "ApplyQualityFilter" },
      { ...filter("g"), parameters: { filter_type: "emboss", parameters: { sigma: 2 } } },
    ]);
    const errs = validatePipeline(body, catalog);
    expect(fields(errs)).toEqual(
      [
        "steps[1].depends_on[1]",
        "steps[1].parameters.confidence_threshold",
        "steps[1].parameters.target_classes[1]",
        "steps[2].step_id",
        "steps[2].service",
        "steps[3].method",
        "steps[4].parameters.filter_type",
        "steps[4].parameters.parameters.sigma",
      ].sort(),
    );
    const by = (f: string) => errs.find((e) => e.field === f);
    expect(by("steps[1].depends_on[1]")).toMatchObject({ message: 'unknown step "nope"', value: "nope" });
    expect(by("steps[1].parameters.confidence_threshold")).toMatchObject({ value: 1.5 });
    expect(by("steps[2].step_id")?.message).toContain("duplicate step_id (first at steps[0])");
    expect(by("steps[2].service")?.message).toContain("ResizeService, AIDetectionService, FilterService");
    expect(by("steps[3].method")).toMatchObject({ message: "unknown method of FilterService (known: ApplyFilter)", value: "ApplyQualityFilter" });
  });

  it("reports schema errors by JSON path: missing, unknown and out-of-range fields", () => {
    const errs = validatePipeline(
      { name: "", version: "1", steps: [{ step_id: "bad id!", service: "ResizeService", method: "Resize", depend_on: ["x"], timeout_ms: 300_001, retry_count: 4 }], error_handling: { strategy: "yolo" } },
      catalog,
    );
    expect(fields(errs)).toEqual(
      ["pipeline_id", "name", "steps[0].step_id", "steps[0].depend_on", "steps[0].timeout_ms", "steps[0].retry_count", "error_handling.strategy"].sort(),
    );
    expect(errs.find((e) => e.field === "pipeline_id")?.message).toBe("is required");
    expect(errs.find((e) => e.field === "steps[0].depend_on")).toMatchObject({ message: "is not a known property", value: ["x"] });
  });

  it("holds the step-count and timeout limits at their edges", () => {
    const steps = (n: number) => Array.from({ length: n }, (_, i) => resize(`s${i}`));
    expect(validatePipeline(def(steps(3)), catalog, { maxSteps: 3 })).toEqual([]);
    expect(fields(validatePipeline(def(steps(4)), catalog, { maxSteps: 3 }))).toEqual(["steps"]);
    expect(fields(validatePipeline(def([]), catalog))).toEqual(["steps"]);
    expect(validatePipeline(def([{ ...resize(), timeout_ms: 1000 }]), catalog, { maxTimeoutMs: 1000 })).toEqual([]);
    expect(fields(validatePipeline(def([{ ...resize(), timeout_ms: 1001 }]), catalog, { maxTimeoutMs: 1000 }))).toEqual(["steps[0].timeout_ms"]);
    expect(validatePipeline(def([{ ...resize(), retry_count: 3 }]), catalog)).toEqual([]);
    const id64 = "x".repeat(64);
    expect(validatePipeline(def([resize(id64)], { pipeline_id: id64 }), catalog)).toEqual([]);
    expect(fields(validatePipeline(def([resize(id64 + "x")], { pipeline_id: id64 + "x" }), catalog))).toEqual(["pipeline_id", "steps[0].step_id"]);
  });

  it("survives bodies that are not objects at all", () => {
    expect(fields(validatePipeline(null, catalog))).toEqual([""]);
    expect(validatePipeline(def([null, 3]), catalog).length).toBeGreaterThanOrEqual(2);
  });

  it("parsePipeline throws a PipelineValidationError carrying the list", () => {
    const body = def([detect("d", ["zzz"])]);
    let caught: unknown;
    try {
      parsePipeline(body, catalog);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PipelineValidationError);
    const err = caught as PipelineValidationError;
    expect(err.kind).toBe("invalid-input");
    expect(err.errors).toEqual([{ field: "steps[0].depends_on[0]", message: 'unknown step "zzz"', value: "zzz" }]);
    expect(err.details).toEqual({ validation_errors: err.errors });
  });

  it("pointerToPath turns JSON pointers into field paths", () => {
    expect(pointerToPath("/steps/1/depends_on/0")).toBe("steps[1].depends_on[0]");
    expect(pointerToPath("/a~1b/c~0d", "p")).toBe("p.a/b.c~d");
    expect(pointerToPath("")).toBe("");
  });
});

describe("validateExecutionParameters", () => {
  const qi = parsePipeline(def([resize(), detect("detect", ["resize"]), filter("filter", ["detect"])]), catalog);

  it("accepts flat and scoped overrides that keep every step valid", () => {
    expect(validateExecutionParameters(qi, undefined, catalog)).toEqual([]);
    expect(validateExecutionParameters(qi, { confidence_threshold: 0.8, model_name: "reference", filter: { filter_type: "edge" } }, catalog)).toEqual([]);
  });

  it("blames the execution's field: flat, scoped, or a key no step takes", () => {
    const errs = validateExecutionParameters(qi, { confidence_threshold: 1.5, detect: { target_classes: "qr_code" }, filter: { filter_type: "emboss" }, colour: "red" }, catalog);
    expect(fields(errs)).toEqual(["parameters.colour", "parameters.confidence_threshold", "parameters.detect.target_classes", "parameters.filter.filter_type"]);
    expect(errs.find((e) => e.field === "parameters.colour")).toMatchObject({ message: "is not a parameter of any step of this pipeline", value: "red" });
    expect(validateExecutionParameters(qi, [1], catalog)).toEqual([{ field: "parameters", message: "must be an object", value: [1] }]);
  });
});

describe("ComponentCatalog", () => {
  it("lists the reference services and finds by id or service+method", () => {
    expect(catalog.list().map((c) => `${c.service}.${c.method}`)).toEqual(["ResizeService.Resize", "AIDetectionService.Detect", "FilterService.ApplyFilter"]);
    expect(catalog.get("filter")?.service).toBe("FilterService");
    expect(catalog.find("AIDetectionService", "Detect")?.component_id).toBe("ai_detection");
    expect(catalog.find("AIDetectionService", "DetectDefects")).toBeUndefined();
  });

  it("takes an external component, whose schema then validates steps", () => {
    const c = new ComponentCatalog(REFERENCE_COMPONENTS);
    c.register({ component_id: "yolo", service: "YoloService", method: "Infer", description: "Triton YOLO", parameters_schema: Type.Object({ iou: Type.Number({ maximum: 1 }) }, { additionalProperties: false }) });
    const body = def([{ step_id: "y", service: "YoloService", method: "Infer", parameters: { iou: 2 } }]);
    expect(fields(validatePipeline(body, c))).toEqual(["steps[0].parameters.iou"]);
    expect(() => c.register({ ...REFERENCE_COMPONENTS[0]!, component_id: "resize2" })).toThrow(/already component resize/);
    expect(() => c.register({ ...REFERENCE_COMPONENTS[0]!, method: "Other" })).toThrow(/already ResizeService.Resize/);
    // Re-registering the same component (a restarted service) replaces it.
    c.register({ ...REFERENCE_COMPONENTS[0]!, description: "new" });
    expect(c.get("resize")?.description).toBe("new");
    expect(parsePipeline(def([resize()]), c).steps).toHaveLength(1);
  });
});
