import { BlockList, isIPv4, isIPv6 } from "node:net";

/**
 * Client networks as CIDRs (IFC_AUTH_ANONYMOUS_NETWORKS), matched with node:net's BlockList.
 * An IPv4 client seen on a dual-stack socket as `::ffff:a.b.c.d` is matched as IPv4, the same
 * rule as the HTTP side. An empty list matches nothing (anonymous access off).
 */
export class NetworkList {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [addr = "", bits] = cidr.trim().split("/");
      const family = isIPv4(addr) ? "ipv4" : isIPv6(addr) ? "ipv6" : undefined;
      if (!family) throw new Error(`not a CIDR network: "${cidr}"`);
      const prefix = bits === undefined ? (family === "ipv4" ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === "ipv4" ? 32 : 128)) throw new Error(`bad prefix length in "${cidr}"`);
      this.list.addSubnet(addr, prefix, family);
    }
    this.empty = cidrs.length === 0;
  }

  has(address: string): boolean {
    if (this.empty) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return this.list.check(mapped[1], "ipv4");
    if (isIPv4(address)) return this.list.check(address, "ipv4");
    if (isIPv6(address)) return this.list.check(address, "ipv6");
    return false;
  }
}

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
