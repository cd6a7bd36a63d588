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
