import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzzParams } from "../support/fuzz.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * A schema-driven fuzz of the whole HTTP API, generated from /openapi.json: for every operation,
 * path parameters, query strings and bodies drawn from its declared schemas (valid values, near
 * misses and arbitrary JSON). Pass criteria: no 5xx; every error is problem+json whose `status`
 * is the HTTP status; every JSON response validates against the schema declared for its status.
 */

type Schema = Record<string, unknown>;
interface Parameter { name: string; in: "path" | "query" | "header"; required?: boolean; schema?: Schema }
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

let ts: TestServer;
let doc: Doc;

beforeAll(async () => {
  // The AI feed is off; no stream is live: every operation is reachable and none is expensive.
  ts = await startTestServer();
  doc = (await (await fetch(`${ts.url}/openapi.json`)).json()) as Doc;
});
afterAll(async () => ts?.stop());

const NASTY = fc.constantFrom("", " ", "..", "%", "%00", "a/b", "clips", "-", "0", "-1", "1e309", "NaN", "null", "true", "[]", "{}", "\u{1F600}", "x".repeat(70), "ÿ", "a:b", "2026-01-01T00:00:00Z");

function resolve(schema: Schema | undefined): Schema {
  let s = schema ?? {};
  for (let i = 0; i < 8 && typeof s.$ref === "string"; i++) {
    const ref = s.$ref;
    const name = ref.startsWith("#/components/schemas/") ? ref.slice("#/components/schemas/".length) : ref.replace(/#$/, "");
    s = doc.components?.schemas?.[name] ?? {};
  }
  return s;
}

/** Values the schema admits (roughly), mixed with near misses and arbitrary JSON. */
function valueOf(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const wild = fc.oneof(NASTY, fc.jsonValue({ maxDepth: 2 }));
  const valid = ((): fc.Arbitrary<unknown> => {
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
    if ("const" in s) return fc.constant(s.const);
    for (const k of ["anyOf", "oneOf"] as const) {
      const alts = s[k];
      if (Array.isArray(alts) && alts.length > 0) return fc.oneof(...alts.map((a) => valueOf(a as Schema, depth + 1)));
    }
    switch (s.type) {
      case "string":
        if (typeof s.pattern === "string") return fc.stringMatching(new RegExp(s.pattern));
        if (s.format === "date-time" || /time/i.test(String(s.description ?? ""))) return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
        return fc.string({ maxLength: 40 });
      case "integer":
        return fc.integer({ min: -10, max: 1_000_000 });
      case "number":
        return fc.oneof(fc.double({ min: -10, max: 100_000, noNaN: true }), fc.integer({ min: 0, max: 4000 }));
      case "boolean":
        return fc.boolean();
      case "null":
        return fc.constant(null);
      case "array":
        return depth > 3 ? fc.constant([]) : fc.array(valueOf(s.items as Schema, depth + 1), { maxLength: 3 });
      case "object": {
        if (depth > 3) return fc.constant({});
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const required = new Set((s.required ?? []) as string[]);
        const entries = Object.entries(props);
        const record: Record<string, fc.Arbitrary<unknown>> = Object.fromEntries(entries.map(([k, v]) => [k, valueOf(v, depth + 1)]));
        const requiredKeys = entries.map(([k]) => k).filter((k) => required.has(k));
        const base = fc.record(record, { requiredKeys });
        const extra = s.additionalProperties;
        if (entries.length === 0 && extra && typeof extra === "object") return fc.dictionary(fc.string({ maxLength: 12 }), valueOf(extra as Schema, depth + 1), { maxKeys: 3 });
        return base;
      }
      default:
        return wild;
    }
  })();
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: wild });
}

const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v) ?? "");

interface Call { method: string; path: string; query: string; body?: string; contentType?: string }

function callsFor(path: string, method: string, op: Operation): fc.Arbitrary<Call> {
  const params = op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === "path");
  const queryParams = params.filter((p) => p.in === "query");
  const pathArb = fc.tuple(...pathParams.map((p) => valueOf(p.schema).map(asText))).map((values) => {
    let out = path;
    pathParams.forEach((p, i) => (out = out.replace(`{${p.name}}`, encodeURIComponent(values[i] ?? "") || "x")));
    return out;
  });
  const queryArb = fc
    .tuple(
      fc.tuple(...queryParams.map((p) => fc.option(valueOf(p.schema).map(asText), { nil: undefined, freq: p.required ? 8 : 2 }))),
      fc.option(fc.tuple(fc.constantFrom("bogus", "stream", "tag", "_HLS_msn"), fc.string({ maxLength: 8 })), { nil: undefined, freq: 4 }),
    )
    .map(([values, extra]) => {
      const q = new URLSearchParams();
      queryParams.forEach((p, i) => {
        if (values[i] !== undefined) q.append(p.name, values[i]!);
      });
      if (extra) q.append(extra[0], extra[1]);
      const s = q.toString();
      return s ? `?${s}` : "";
    });
  const content = op.requestBody?.content ?? {};
  const type = Object.keys(content)[0];
  const bodyArb: fc.Arbitrary<{ body?: string; contentType?: string }> = type === undefined
    ? fc.constant({})
    : type.includes("json")
      ? fc.oneof(
          { weight: 5, arbitrary: valueOf(content[type]?.schema).map((v) => ({ body: JSON.stringify(v) ?? "null", contentType: "application/json" })) },
          { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((b) => ({ body: b, contentType: "application/json" })) },
          { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((b) => ({ body: b || "x", contentType: "text/plain" })) },
        )
      : fc.oneof(
          fc.string({ maxLength: 200 }).map((b) => ({ body: b, contentType: type })),
          fc.string({ maxLength: 30 }).map((b) => ({ body: b || "x", contentType: "application/json" })),
        );
  return fc.tuple(pathArb, queryArb, bodyArb).map(([p, query, b]) => ({ method: method.toUpperCase(), path: p, query, ...b }));
}

describe("schema-driven fuzz of the HTTP API (from /openapi.json)", () => {
  it("no 5xx, every error is problem+json, every JSON response matches its declared schema", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    // The components, embedded in each compiled schema so `#/components/schemas/…` resolves;
    // their `$id`s dropped so no two compiled schemas claim the same id.
    const components = { schemas: Object.fromEntries(Object.entries(doc.components?.schemas ?? {}).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([key]) => key !== "$id"))])) };
    const validators = new Map<Schema, ReturnType<typeof ajv.compile>>();
    const validatorOf = (schema: Schema): ReturnType<typeof ajv.compile> => {
      let v = validators.get(schema);
      if (!v) {
        v = ajv.compile({ ...schema, components } as Schema);
        validators.set(schema, v);
      }
      return v;
    };

    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).filter(([m]) => ["get", "post", "put", "patch", "delete", "options"].includes(m)).map(([m, op]) => ({ path, method: m, op })),
    );
    expect(operations.length).toBeGreaterThan(30);
    let requests = 0;

    for (const { path, method, op } of operations) {
      await fc.assert(
        fc.asyncProperty(callsFor(path, method, op), async (call) => {
          requests++;
          const res = await fetch(`${ts.url}${call.path}${call.query}`, {
            method: call.method,
            redirect: "manual",
            ...(call.body !== undefined && !["GET", "DELETE", "OPTIONS"].includes(call.method) ? { body: call.body, headers: { "content-type": call.contentType ?? "application/json" } } : {}),
          });
          const what = `${call.method} ${call.path}${call.query} ${call.body ?? ""}`.slice(0, 400);
          expect(res.status, what).toBeLessThan(500);
          const type = res.headers.get("content-type") ?? "";
          if (res.status >= 400) {
            expect(type, what).toMatch(/^application\/problem\+json/);
            const problem = (await res.json()) as { status: number; type: string; title: string };
            expect(problem.status, what).toBe(res.status);
            expect(typeof problem.type, what).toBe("string");
            expect(typeof problem.title, what).toBe("string");
            return;
          }
          const declared = op.responses?.[String(res.status)] ?? op.responses?.[`${String(res.status)[0]}XX`];
          expect(declared, `${what}: status ${res.status} is not declared`).toBeDefined();
          if (!type.startsWith("application/json")) {
            await res.arrayBuffer();
            return;
          }
          const schema = declared?.content?.["application/json"]?.schema;
          const body: unknown = await res.json();
          if (schema) {
            const validate = validatorOf(schema);
            expect(validate(body), `${what}: ${JSON.stringify(validate.errors)}`).toBe(true);
          }
        }),
        fuzzParams(12),
      );
    }
    // No wall-clock bound (the machine may be busy): the test's own timeout is the only one.
    expect(requests).toBeGreaterThan(300);
  }, 300_000);
});
