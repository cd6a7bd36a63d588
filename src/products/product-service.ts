import { createHash, randomUUID } from "node:crypto";
import { InvalidInput } from "../core/errors.js";
import type { CachePolicy } from "./cache-policy.js";
import { CACHE_TTL_MS } from "./cache-ttl.js";
import { ProductNotFound } from "./product-errors.js";
import type { Product, ProductInput, ProductPatch } from "./product-fields.js";
import type { InspectionRule, InspectionRuleInput, Page, ProductHit, ProductSearch, ProductStore, ProductWrite, QrFields, QualityStandard, QualityStandardInput } from "./product-store.js";
import { qrKey, type QrDecoder } from "./qr-formats.js";

/** What a QR lookup answers in one call (design documents §2.3.1.1). */
export interface QrLookup {
  product: Product;
  inspection_rules: InspectionRule[];
  quality_standards: QualityStandard[];
  specifications: Record<string, string>;
  /** The fields read from the code. */
  decoded: QrFields;
}

/** A product type's master data, cached together (both are needed by every QR lookup). */
interface TypeMaster {
  inspection_rules: InspectionRule[];
  quality_standards: QualityStandard[];
}

/**
 * Cache keys. The search generation key is shared: any module whose writes change search hits
 * (inspection results change their aggregates) may bump it through CachePolicy.bump("search", …).
 */
export const CACHE_KEYS = {
  product: (id: string) => `products:p:${id}`,
  qr: (key: string) => `products:qr:${key}`,
  searchGeneration: "products:search:gen",
  search: (generation: number, digest: string) => `products:s:${generation}:${digest}`,
  master: (productType: string) => `products:rules:${productType}`,
} as const;

/** Every QR key a product answers: its work order with each subset of the optional matched fields. */
function qrKeysOf(p: Product): string[] {
  const optional: [keyof QrFields, string | number | null][] = [["instruction_id", p.instruction_id], ["machine_number", p.machine_number], ["monthly_sequence", p.monthly_sequence]];
  const present = optional.filter(([, v]) => v !== null);
  const keys: string[] = [];
  for (let mask = 0; mask < 1 << present.length; mask++) {
    const f: Record<string, unknown> = { work_order_id: p.work_order_id };
    present.forEach(([k, v], i) => {
      if (mask & (1 << i)) f[k] = v;
    });
    keys.push(CACHE_KEYS.qr(qrKey(f as unknown as QrFields)));
  }
  return keys;
}

export interface ProductServiceOptions {
  /** IFC_PRODUCTS_BATCH_MAX. */
  batchMax: number;
}

/**
 * The ProductService of the design documents over the product store and the cache strategies
 * (§2.3.4): product master write-through (1 h), QR lookups lazy-load (30 min), searches
 * cache-aside on a generation every product write bumps (5 min), a type's inspection rules and
 * quality standards write-through (2 h). Every write drops or refreshes what it touched, so a
 * cached read is never older than the last write made through this service.
 */
export class ProductService {
  constructor(
    private readonly store: ProductStore,
    private readonly cache: CachePolicy,
    private readonly decode: QrDecoder,
    private readonly opts: ProductServiceOptions,
  ) {}

  get batchMax(): number {
    return this.opts.batchMax;
  }

  /** The product, or ProductNotFound. */
  async get(productId: string): Promise<Product> {
    const p = await this.cache.read<Product>("product", CACHE_KEYS.product(productId), CACHE_TTL_MS.product, () => this.store.get(productId));
    if (!p) throw new ProductNotFound(productId);
    return p;
  }

  /** Up to `batchMax` products by id (one cache round trip, the misses in one query); unknown ids listed in `missing`. */
  async batchGet(ids: readonly string[]): Promise<{ items: Product[]; missing: string[] }> {
    if (ids.length > this.opts.batchMax) throw new InvalidInput("too-many-ids", `at most ${this.opts.batchMax} ids in one batch get (IFC_PRODUCTS_BATCH_MAX)`, { limit: this.opts.batchMax });
    const unique = [...new Set(ids)];
    const found = await this.cache.readMany<Product>("product", unique.map(CACHE_KEYS.product), CACHE_TTL_MS.product, async (indexes) => {
      const wanted = indexes.map((i) => unique[i]!);
      const byId = new Map((await this.store.getMany(wanted)).map((p) => [p.product_id, p]));
      return wanted.map((id) => byId.get(id));
    });
    const items = found.filter((p): p is Product => p !== undefined);
    const have = new Set(items.map((p) => p.product_id));
    return { items, missing: unique.filter((id) => !have.has(id)) };
  }

  /** Decodes a QR payload (UnreadableQrPayload), finds its product (ProductNotFound) and its type's master data, in one call. */
  async getByQr(payload: string): Promise<QrLookup> {
    const decoded = this.decode(payload);
    // The code → product id mapping is the lazy-loaded entry; the product itself comes from its
    // write-through entry, so an update is visible at once even while the mapping is cached.
    const id = await this.cache.read<string>("qr", CACHE_KEYS.qr(qrKey(decoded)), CACHE_TTL_MS.qr, async () => (await this.store.findByQr(decoded))?.product_id);
    if (id === undefined) throw new ProductNotFound(decoded.work_order_id);
    let product: Product;
    try {
      product = await this.get(id);
    } catch (err) {
      // Deleted since the mapping was cached (and the cache missed the invalidation): look again.
      if (!(err instanceof ProductNotFound)) throw err;
      await this.cache.invalidate("qr", [CACHE_KEYS.qr(qrKey(decoded))]);
      const fresh = await this.store.findByQr(decoded);
      if (!fresh) throw new ProductNotFound(decoded.work_order_id);
      product = fresh;
    }
    const master = product.product_type === null ? { inspection_rules: [], quality_standards: [] } : await this.master(product.product_type);
    return { product, ...master, specifications: product.specifications, decoded };
  }

  /** Searches (see ProductStore.search), cached per query on the current search generation. */
  async search(q: ProductSearch): Promise<Page<ProductHit>> {
    const generation = await this.cache.generation("search", CACHE_KEYS.searchGeneration);
    if (generation === undefined) return this.store.search(q);
    const digest = createHash("sha256").update(JSON.stringify([q.product_type, q.machine_number, q.from, q.to, q.work_order_prefix, q.status, q.limit, q.cursor])).digest("base64url");
    return (await this.cache.read("search", CACHE_KEYS.search(generation, digest), CACHE_TTL_MS.search, () => this.store.search(q)))!;
  }

  /** A product type's inspection rules (write-through, 2 h). */
  async rules(productType: string): Promise<InspectionRule[]> {
    return (await this.master(productType)).inspection_rules;
  }

  async standards(productType: string): Promise<QualityStandard[]> {
    return (await this.master(productType)).quality_standards;
  }

  private async master(productType: string): Promise<TypeMaster> {
    return (await this.cache.read<TypeMaster>("rules", CACHE_KEYS.master(productType), CACHE_TTL_MS.rules, () => this.loadMaster(productType)))!;
  }

  private async loadMaster(productType: string): Promise<TypeMaster> {
    const [inspection_rules, quality_standards] = await Promise.all([this.store.rules(productType), this.store.standards(productType)]);
    return { inspection_rules, quality_standards };
  }

  async putRules(productType: string, rules: readonly InspectionRuleInput[]): Promise<InspectionRule[]> {
    const stored = await this.store.putRules(productType, rules);
    await this.cache.write("rules", CACHE_KEYS.master(productType), await this.loadMaster(productType), CACHE_TTL_MS.rules);
    return stored;
  }

  async putStandards(productType: string, standards: readonly QualityStandardInput[]): Promise<QualityStandard[]> {
    const stored = await this.store.putStandards(productType, standards, () => `std-${randomUUID()}`);
    await this.cache.write("rules", CACHE_KEYS.master(productType), await this.loadMaster(productType), CACHE_TTL_MS.rules);
    return stored;
  }

  async upsert(input: ProductInput): Promise<ProductWrite> {
    const w = await this.store.upsert(input);
    await this.afterWrites([w]);
    return w;
  }

  /** Many at once (the import): one transaction, one cache pass. */
  async upsertMany(inputs: readonly ProductInput[]): Promise<ProductWrite[]> {
    const ws = await this.store.upsertMany(inputs);
    await this.afterWrites(ws);
    return ws;
  }

  async update(productId: string, patch: ProductPatch, expectedRevision?: number): Promise<ProductWrite> {
    const w = await this.store.update(productId, patch, expectedRevision);
    await this.afterWrites([w]);
    return w;
  }

  async delete(productId: string, expectedRevision?: number): Promise<void> {
    const previous = await this.store.delete(productId, expectedRevision);
    await this.cache.invalidate("product", [CACHE_KEYS.product(productId)]);
    await this.cache.invalidate("qr", qrKeysOf(previous));
    await this.cache.bump("search", CACHE_KEYS.searchGeneration);
  }

  /**
   * Write-through of the products written; the QR mappings of their old and new fields dropped
   * (a code may now name another product); every cached search page retired.
   */
  private async afterWrites(ws: readonly ProductWrite[]): Promise<void> {
    // One product: written through. A batch (an import): its keys dropped in one round trip
    // instead of hundreds of writes; the next read loads them.
    if (ws.length === 1) await this.cache.write("product", CACHE_KEYS.product(ws[0]!.product.product_id), ws[0]!.product, CACHE_TTL_MS.product);
    else await this.cache.invalidate("product", ws.map((w) => CACHE_KEYS.product(w.product.product_id)));
    const qr = new Set(ws.flatMap((w) => [...qrKeysOf(w.product), ...(w.previous ? qrKeysOf(w.previous) : [])]));
    await this.cache.invalidate("qr", [...qr]);
    await this.cache.bump("search", CACHE_KEYS.searchGeneration);
  }
}
