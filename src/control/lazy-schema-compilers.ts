import { createRequire } from "node:module";
import type { FastifyInstance, FastifyServerOptions } from "fastify";

type Factories = NonNullable<NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]>;
type ValidatorFactory = NonNullable<Factories["buildValidator"]>;
type SerializerFactory = NonNullable<Factories["buildSerializer"]>;
type Validate = ((data: unknown) => unknown) & { errors?: unknown };
type Serialize = (doc: unknown) => string;
/** What Fastify passes a compiler per schema (`httpPart` for validators, `httpStatus` for serializers). */
interface RouteSchema { method: string; url: string; schema: unknown; httpPart?: string; httpStatus?: string }
// The packages' own types are overloads over ajv's; these are the shapes Fastify calls.
type ValidatorBuilder = (externalSchemas: unknown, options: unknown) => (route: RouteSchema) => Validate;
type SerializerBuilder = (externalSchemas: unknown, options: unknown) => (route: RouteSchema) => Serialize;

/** Fastify's own default compilers, resolved from fastify's location: the versions it would use itself. */
function fastifyDefaults(): { validator: ValidatorBuilder; serializer: SerializerBuilder } {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve("fastify"));
  const ajv = fromFastify("@fastify/ajv-compiler") as () => ValidatorBuilder;
  const fjs = fromFastify("@fastify/fast-json-stringify-compiler") as { SerializerSelector: () => SerializerBuilder };
  return { validator: ajv(), serializer: fjs.SerializerSelector() };
}

export interface LazySchemaCompilers {
  /** For Fastify's `schemaController` option. */
  compilersFactory: { buildValidator: ValidatorFactory; buildSerializer: SerializerFactory };
  /** Compiles every schema not compiled yet (a test's check that each one builds); returns how many. */
  compileAll(): number;
}

/**
 * Fastify's validators (ajv) and response serializers (fast-json-stringify), each compiled at its
 * first request instead of at `ready`: compiling those of every route cost ~23 MiB resident at
 * start (bench/base-rss.ts), for routes most nodes never serve. Same compilers and options as
 * Fastify's defaults, so validation and output are unchanged; only a schema's build error comes
 * at its first use (test/integration/lazy-schema-compilers.test.ts builds them all).
 *
 * A custom validator factory makes Fastify skip its lower-casing of header schemas; no route has
 * one, and one added would be refused at start rather than silently case-sensitive.
 */
export function lazySchemaCompilers(): LazySchemaCompilers {
  let defaults: ReturnType<typeof fastifyDefaults> | undefined;
  const pending = new Set<() => void>();
  const buildValidator: ValidatorBuilder = (externalSchemas, options) => {
    let compiler: ReturnType<ValidatorBuilder> | undefined;
    return (route) => {
      if (route.httpPart === "headers") throw new Error(`${route.method} ${route.url}: header schemas are not supported with lazy schema compilers (Fastify would not lower-case them)`);
      let fn: Validate | undefined;
      const build = (): Validate => {
        if (fn) return fn;
        defaults ??= fastifyDefaults();
        compiler ??= defaults.validator(externalSchemas, options);
        fn = compiler(route);
        pending.delete(force);
        return fn;
      };
      const force = (): void => void build();
      pending.add(force);
      // Fastify reads `errors` off the function it called, after a failed validation.
      const validate: Validate = (data) => {
        const f = build();
        const result = f(data);
        validate.errors = f.errors;
        return result;
      };
      return validate;
    };
  };
  const buildSerializer: SerializerBuilder = (externalSchemas, options) => {
    let compiler: ReturnType<SerializerBuilder> | undefined;
    return (route) => {
      let fn: Serialize | undefined;
      const build = (): Serialize => {
        if (fn) return fn;
        defaults ??= fastifyDefaults();
        compiler ??= defaults.serializer(externalSchemas, options);
        const made = compiler(route);
        fn = made;
        pending.delete(force);
        return made;
      };
      const force = (): void => void build();
      pending.add(force);
      return (doc: unknown) => build()(doc);
    };
  };
  return {
    compilersFactory: { buildValidator: buildValidator as unknown as ValidatorFactory, buildSerializer: buildSerializer as unknown as SerializerFactory },
    compileAll: () => {
      const all = [...pending];
      for (const force of all) force();
      return all.length;
    },
  };
}

const ofApp = new WeakMap<FastifyInstance, LazySchemaCompilers>();

/** Records which compilers an app was made with (createApp), for compileAllSchemas. */
export function attachSchemaCompilers(app: FastifyInstance, compilers: LazySchemaCompilers): void {
  ofApp.set(app, compilers);
}

/** Compiles every schema of a ready app not compiled yet; throws the first build error. Returns how many. */
export function compileAllSchemas(app: FastifyInstance): number {
  const compilers = ofApp.get(app);
  if (!compilers) throw new Error("this app was not made with lazy schema compilers");
  return compilers.compileAll();
}
