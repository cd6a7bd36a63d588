/** The package the documents' resident services live in. */
export const IMAGEFLOW_PACKAGE = "imageflow.v1";

/**
 * Full gRPC service name: "ResizeService" → "imageflow.v1.ResizeService"; a name that already
 * has a package ("acme.v2.Foo") is kept, so external services can be registered too.
 */
export function fullServiceName(service: string): string {
  const s = service.trim();
  if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(s)) throw new InvalidInstanceError(`invalid gRPC service name "${service}"`);
  return s.includes(".") ? s : `${IMAGEFLOW_PACKAGE}.${s}`;
}

/** "imageflow.v1.ResizeService" → "ResizeService"; another package's service keeps its full name. */
export function shortServiceName(service: string): string {
  const s = service.trim();
  return s.startsWith(`${IMAGEFLOW_PACKAGE}.`) ? s.slice(IMAGEFLOW_PACKAGE.length + 1) : s;
}

/** host:port, IPv6 hosts in brackets; the port must be 1..65535. */
export function checkAddress(address: string): string {
  const a = address.trim();
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(a);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65_535)) throw new InvalidInstanceError(`invalid service address "${address}" (want host:port)`);
  return a;
}

/**
 * Instances written as one string (an environment variable): "ResizeService=host:port" entries
 * separated by commas or whitespace, e.g. "ResizeService=10.0.0.5:50051,FilterService=10.0.0.6:50053".
 */
export function parseInstanceList(text: string): { service: string; address: string }[] {
  return text
    .split(/[\s,]+/)
    .filter((e) => e.length > 0)
    .map((entry) => {
      const eq = entry.indexOf("=");
      if (eq <= 0) throw new InvalidInstanceError(`invalid service instance "${entry}" (want Service=host:port)`);
      return { service: fullServiceName(entry.slice(0, eq)), address: checkAddress(entry.slice(eq + 1)) };
    });
}

/** A malformed service name or address given to the registry (config or registration). */
export class InvalidInstanceError extends Error {
  override readonly name = "InvalidInstanceError";
}
