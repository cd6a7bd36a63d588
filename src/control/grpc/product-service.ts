import { status, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  ProductServiceService,
  type InspectionRule as InspectionRuleMsg,
  type ProductInfo,
  type ProductServiceServer,
  type QualityStandard as QualityStandardMsg,
} from "../../generated/imageflow/v1/product.js";
import { RevisionConflict } from "../../products/product-errors.js";
import { checkProduct, type Product } from "../../products/product-fields.js";
import type { ProductService } from "../../products/product-service.js";
import type { InspectionRule, QualityStandard } from "../../products/product-store.js";
import type { GrpcServiceRegistration } from "./grpc-control-server.js";
import type { CallGuard } from "./call-guard.js";
import { GrpcError } from "./grpc-errors.js";

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

export function productMessage(p: Product): ProductInfo {
  return {
    productId: p.product_id,
    workOrderId: p.work_order_id,
    instructionId: opt(p.instruction_id),
    productType: opt(p.product_type),
    machineNumber: opt(p.machine_number),
    productionDate: opt(p.production_date),
    monthlySequence: opt(p.monthly_sequence),
    model: opt(p.model),
    version: opt(p.version),
    batch: opt(p.batch),
    status: p.status,
    revision: p.revision,
    createdAt: p.created_at,
    updatedAt: p.updated_at,
    specifications: p.specifications,
  };
}

const ruleMessage = (r: InspectionRule): InspectionRuleMsg => ({ ruleId: r.rule_id, productType: r.product_type, category: r.category, threshold: r.threshold, enabled: r.enabled, parametersJson: JSON.stringify(r.parameters), revision: r.revision });
const standardMessage = (s: QualityStandard): QualityStandardMsg => ({
  standardId: s.standard_id, productType: s.product_type, name: s.name, metric: s.metric, minValue: opt(s.min_value), maxValue: opt(s.max_value), unit: opt(s.unit), parametersJson: JSON.stringify(s.parameters), revision: s.revision,
});

/** A request's product as the REST body it stands for (so both edges check fields alike). */
function productFields(m: ProductInfo | undefined): Record<string, unknown> {
  if (!m) throw new GrpcError(status.INVALID_ARGUMENT, "product is required");
  const specs = m.specifications ?? {};
  return {
    product_id: m.productId,
    work_order_id: m.workOrderId,
    ...(m.instructionId !== undefined ? { instruction_id: m.instructionId } : {}),
    ...(m.productType !== undefined ? { product_type: m.productType } : {}),
    ...(m.machineNumber !== undefined ? { machine_number: m.machineNumber } : {}),
    ...(m.productionDate !== undefined ? { production_date: m.productionDate } : {}),
    ...(m.monthlySequence !== undefined ? { monthly_sequence: m.monthlySequence } : {}),
    ...(m.model !== undefined ? { model: m.model } : {}),
    ...(m.version !== undefined ? { version: m.version } : {}),
    ...(m.batch !== undefined ? { batch: m.batch } : {}),
    ...(m.status ? { status: m.status } : {}),
    ...(Object.keys(specs).length > 0 ? { specifications: specs } : {}),
  };
}

const empty = (s: string): string | undefined => (s === "" ? undefined : s);

/**
 * ProductService over gRPC: the REST routes' service with their permissions, behind the control
 * port's guard. A revision conflict is ABORTED (the gRPC code for "retry at a higher level").
 */
export function productGrpcService(service: ProductService): GrpcServiceRegistration {
  return {
    definition: ProductServiceService,
    implementation(guard: CallGuard): ProductServiceServer & UntypedServiceImplementation {
      return {
        getProductByQr: guard.unary("GetProductByQr", { permission: "product:search" }, async (req) => {
          const r = await service.getByQr(req.payload);
          return { product: productMessage(r.product), inspectionRules: r.inspection_rules.map(ruleMessage), qualityStandards: r.quality_standards.map(standardMessage) };
        }),

        searchProducts: guard.unary("SearchProducts", { permission: "product:search" }, async (req) => {
          const q = {
            product_type: empty(req.productType), machine_number: empty(req.machineNumber), from: empty(req.from), to: empty(req.to),
            work_order_prefix: empty(req.workOrderPrefix), status: empty(req.status), cursor: empty(req.cursor),
          };
          const page = await service.search({ ...Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)), limit: req.limit === 0 ? 50 : req.limit });
          return {
            items: page.items.map((h) => ({ product: productMessage(h), qualityScore: opt(h.quality_score), inspectionCount: h.inspection_count })),
            nextCursor: page.next_cursor ?? "",
            total: page.total,
          };
        }),

        getProduct: guard.unary("GetProduct", { permission: "product:search" }, async (req) => productMessage(await service.get(req.productId))),

        batchGetProducts: guard.unary("BatchGetProducts", { permission: "product:search" }, async (req) => {
          const r = await service.batchGet(req.productIds);
          return { products: r.items.map(productMessage), missing: r.missing };
        }),

        upsertProduct: guard.unary("UpsertProduct", { permission: "system:admin" }, async (req) => {
          const input = checkProduct(productFields(req.product), false);
          try {
            if (req.expectedRevision > 0) {
              const { product_id, ...patch } = input;
              // Upsert semantics (absent fields cleared) under the revision check of an update.
              const cleared = { instruction_id: null, product_type: null, machine_number: null, production_date: null, monthly_sequence: null, model: null, version: null, batch: null, status: "active", ...patch };
              return productMessage((await service.update(product_id, cleared, req.expectedRevision)).product);
            }
            return productMessage((await service.upsert(input)).product);
          } catch (err) {
            if (err instanceof RevisionConflict) throw new GrpcError(status.ABORTED, err.message, { "problem-type": "urn:imageflowcanvas:problem:revision-conflict" });
            throw err;
          }
        }),
      };
    },
  };
}
