/**
 * The component catalog: what a pipeline step may call. One component is one method of a gRPC
 * service with the JSON Schema of its parameters (the request's fields in snake_case). The three
 * reference services are built in; an external service registers its own component.
 */
import { Type, type TSchema } from "typebox";
import { Conflict } from "../core/errors.js";

export interface Component {
  component_id: string;
  service: string;
  method: string;
  description: string;
  /** JSON Schema (built with TypeBox) the step's `parameters` must satisfy. */
  parameters_schema: TSchema;
}

/** Largest width/height a resize step may ask for; larger would only exhaust the service's memory. */
export const MAX_RESIZE_DIMENSION = 16_384;

export const RESIZE_PARAMETERS = Type.Object(
  {
    target_width: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_RESIZE_DIMENSION })),
    target_height: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_RESIZE_DIMENSION })),
    resize_mode: Type.Optional(Type.Enum(["fit", "fill", "stretch"], { default: "fit" })),
    maintain_aspect_ratio: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

export const DETECT_PARAMETERS = Type.Object(
  {
    model_name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, default: "reference" })),
    confidence_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    target_classes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 })),
  },
  { additionalProperties: false },
);

export const FILTER_PARAMETERS = Type.Object(
  {
    filter_type: Type.Enum(["blur", "sharpen", "edge"]),
    // map<string,string> in the proto; blur and sharpen read `sigma`, edge reads nothing.
    parameters: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 256 }))),
  },
  { additionalProperties: false },
);

export const REFERENCE_COMPONENTS: readonly Component[] = [
  {
    component_id: "resize",
    service: "ResizeService",
    method: "Resize",
    description: "Resizes an image: fit inside, fill and crop, or stretch to target_width × target_height.",
    parameters_schema: RESIZE_PARAMETERS,
  },
  {
    component_id: "ai_detection",
    service: "AIDetectionService",
    method: "Detect",
    description: "Finds QR codes (with their payload), dark spots and scratches; boxes with confidence.",
    parameters_schema: DETECT_PARAMETERS,
  },
  {
    component_id: "filter",
    service: "FilterService",
    method: "ApplyFilter",
    description: "Applies a blur, sharpen (parameter sigma) or edge filter.",
    parameters_schema: FILTER_PARAMETERS,
  },
];

/** Components by id and by service+method. */
export class ComponentCatalog {
  private readonly byId = new Map<string, Component>();

  constructor(components: readonly Component[] = REFERENCE_COMPONENTS) {
    for (const c of components) this.register(c);
  }

  /**
   * Adds a component, or replaces one with the same id and the same service+method (a service
   * that re-registers after a restart). Conflict when the id or the service+method is taken by
   * another component.
   */
  register(component: Component): void {
    const same = this.byId.get(component.component_id);
    if (same && (same.service !== component.service || same.method !== component.method)) {
      throw new Conflict("component-exists", `component ${component.component_id} is already ${same.service}.${same.method}`, { component_id: component.component_id });
    }
    const other = this.find(component.service, component.method);
    if (other && other.component_id !== component.component_id) {
      throw new Conflict("component-exists", `${component.service}.${component.method} is already component ${other.component_id}`, { component_id: other.component_id });
    }
    this.byId.set(component.component_id, { ...component });
  }

  list(): Component[] {
    return [...this.byId.values()];
  }

  get(componentId: string): Component | undefined {
    return this.byId.get(componentId);
  }

  find(service: string, method: string): Component | undefined {
    for (const c of this.byId.values()) if (c.service === service && c.method === method) return c;
    return undefined;
  }

  services(): string[] {
    return [...new Set(this.list().map((c) => c.service))];
  }

  methodsOf(service: string): string[] {
    return this.list().filter((c) => c.service === service).map((c) => c.method);
  }
}
