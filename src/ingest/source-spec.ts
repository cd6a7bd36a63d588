/**
 * A pull source as declared (config file, IFC_SOURCES, or POST /api/v1/sources): which camera
 * to pull into which stream, and how. Pure checks, shared by the config loader and the REST
 * surface so both refuse the same things with the same words.
 */
import { InvalidInput } from "../core/errors.js";
import { STREAM_NAME } from "../core/stream-name.js";

export const SOURCE_TRANSPORTS = ["tcp", "udp", "auto"] as const;
export const SOURCE_MODES = ["always", "on-demand"] as const;
export type SourceTransport = (typeof SOURCE_TRANSPORTS)[number];
export type SourceMode = (typeof SOURCE_MODES)[number];

export interface SourceDeclaration {
  /** The stream it publishes. */
  name: string;
  /** `rtsp://[user:pass@]host[:port]/path`. */
  url: string;
  /** `auto` (the default): UDP, TCP interleaved when the camera refuses UDP. */
  transport: SourceTransport;
  /** `always` (the default): pulled from server start; `on-demand`: when a reader asks. */
  mode: SourceMode;
}

const RESERVED = new Set(["clips", "auth"]);
const MAX_URL = 2048;

/** Why `url` cannot be pulled, or undefined when it can. */
export function sourceUrlProblem(url: string): string | undefined {
  if (url.length > MAX_URL) return `the URL is longer than ${MAX_URL} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${redactUrl(url)}" is not an absolute URL`;
  }
  if (parsed.protocol !== "rtsp:") return `the URL's scheme must be rtsp:// (got ${parsed.protocol.replace(/:$/, "")}://)`;
  if (!parsed.hostname) return "the URL names no host";
  if (parsed.hash) return "the URL must not carry a fragment";
  return undefined;
}

/**
 * Checks one declaration (a parsed JSON/YAML object). Throws InvalidInput with a message naming
 * the field; `where` prefixes it (the config key, or nothing for REST).
 */
export function parseSourceDeclaration(value: unknown, where = ""): SourceDeclaration {
  const at = (msg: string): InvalidInput => new InvalidInput("invalid-source", `${where}${msg}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw at("a source is an object with name and url");
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["name", "url", "transport", "mode"].includes(key)) throw at(`unknown field "${key}" (fields: name, url, transport, mode)`);
  const { name, url } = o;
  if (typeof name !== "string" || !STREAM_NAME.test(name) || RESERVED.has(name)) throw at(`name must be a stream name ([A-Za-z0-9_-]{1,64}, not clips or auth), got ${JSON.stringify(name)}`);
  if (typeof url !== "string") throw at(`source "${name}": url must be a string`);
  const problem = sourceUrlProblem(url);
  if (problem) throw at(`source "${name}": ${problem}`);
  const transport = o.transport ?? "auto";
  if (typeof transport !== "string" || !(SOURCE_TRANSPORTS as readonly string[]).includes(transport)) throw at(`source "${name}": transport must be one of ${SOURCE_TRANSPORTS.join(", ")}`);
  const mode = o.mode ?? "always";
  if (typeof mode !== "string" || !(SOURCE_MODES as readonly string[]).includes(mode)) throw at(`source "${name}": mode must be one of ${SOURCE_MODES.join(", ")}`);
  return { name, url, transport: transport as SourceTransport, mode: mode as SourceMode };
}

/** A list of declarations with unique names (the config key). */
export function parseSourceList(value: unknown, where = ""): SourceDeclaration[] {
  if (!Array.isArray(value)) throw new InvalidInput("invalid-source", `${where}expected a list of sources`);
  const out: SourceDeclaration[] = [];
  const names = new Set<string>();
  value.forEach((v, i) => {
    const d = parseSourceDeclaration(v, `${where}[${i}]: `);
    if (names.has(d.name)) throw new InvalidInput("invalid-source", `${where}[${i}]: stream "${d.name}" has two sources`);
    names.add(d.name);
    out.push(d);
  });
  return out;
}

/** The URL with its password replaced (GET answers and logs never show it). */
export function redactUrl(url: string): string {
  return url.replace(/^(rtsp:\/\/[^:@/]*):[^@/]*@/i, "$1:***@");
}
