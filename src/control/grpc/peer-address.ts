import { isIPv4, isIPv6 } from "node:net";

/**
 * The client address of a grpc-js call from `call.getPeer()`: grpc-js 1.14 gives
 * `<remoteAddress>:<port>` (IPv6 unbracketed, e.g. `::1:50000`), some versions
 * `ipv4:`/`ipv6:[..]` URIs; an address without a port (a Unix socket's path) is kept whole.
 */
export function peerAddress(peer: string): string {
  let p = peer.replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracketed?.[1]) return bracketed[1];
  const i = p.lastIndexOf(":");
  if (i > 0 && /^\d+$/.test(p.slice(i + 1))) {
    const host = p.slice(0, i);
    if (isIPv4(host) || isIPv6(host)) p = host;
  }
  return p.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
}
