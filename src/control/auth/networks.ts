import { BlockList, isIPv4, isIPv6 } from "node:net";

/**
 * A list of client networks (CIDR) as node:net's BlockList, IPv4 and IPv6. An IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4 client) is checked as
 * the IPv4 address it carries, so `10.0.0.0/8` covers it.
 */
export class NetworkList {
  readonly size: number;
  private readonly list = new BlockList();
  private readonly seen = new Map<string, boolean>();
  /** Each entry on its own, to name the network an address is in (few entries: checked only then). */
  private readonly entries: { cidr: string; list: BlockList; type: "ipv4" | "ipv6" }[] = [];
  private readonly seenNetwork = new Map<string, string | undefined>();

  /** @param variable named in the error of a bad entry (`IFC_AUTH_ANONYMOUS_NETWORKS`). */
  constructor(cidrs: readonly string[], variable: string) {
    for (const raw of cidrs) {
      const entry = raw.trim();
      if (!entry) continue;
      const slash = entry.indexOf("/");
      const addr = unmapped(slash < 0 ? entry : entry.slice(0, slash));
      const type = isIPv4(addr) ? "ipv4" : isIPv6(addr) ? "ipv6" : undefined;
      if (!type) throw new Error(`${variable}: "${entry}" is not an IP address or CIDR network (e.g. 10.0.0.0/8, fd00::/8)`);
      const max = type === "ipv4" ? 32 : 128;
      const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
      const prefix = Number(prefixText);
      if (!/^\d{1,3}$/.test(prefixText) || prefix > max) throw new Error(`${variable}: "${entry}" has a bad prefix length (0-${max})`);
      this.list.addSubnet(addr, prefix, type);
      const own = new BlockList();
      own.addSubnet(addr, prefix, type);
      this.entries.push({ cidr: entry, list: own, type });
    }
    this.size = this.list.rules.length;
  }

  /** Whether the client address (as `req.ip` gives it) is in one of the networks. */
  has(address: string): boolean {
    if (this.size === 0) return false;
    // BlockList.check builds a SocketAddress per call (~4 % of a request in a profile); clients
    // are few and repeat, so answers are remembered (bounded: forgotten all at once when full).
    const known = this.seen.get(address);
    if (known !== undefined) return known;
    const addr = unmapped(address);
    const inside = isIPv4(addr) ? this.list.check(addr, "ipv4") : isIPv6(addr) ? this.list.check(addr, "ipv6") : false;
    if (this.seen.size >= SEEN_MAX) this.seen.clear();
    this.seen.set(address, inside);
    return inside;
  }

  /** The first configured entry (as written) the address is in, or undefined. */
  networkOf(address: string): string | undefined {
    if (!this.has(address)) return undefined;
    if (this.seenNetwork.has(address)) return this.seenNetwork.get(address);
    const addr = unmapped(address);
    const type = isIPv4(addr) ? "ipv4" : "ipv6";
    const found = this.entries.find((e) => e.type === type && e.list.check(addr, type))?.cidr;
    if (this.seenNetwork.size >= SEEN_MAX) this.seenNetwork.clear();
    this.seenNetwork.set(address, found);
    return found;
  }
}

const SEEN_MAX = 10_000;

const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged. */
export function unmapped(address: string): string {
  return MAPPED.exec(address)?.[1] ?? address;
}
