import { describe, expect, it } from "vitest";
import { NetworkList } from "../../../../src/control/grpc/network-list.js";
import { peerAddress } from "../../../../src/control/grpc/peer-address.js";

describe("NetworkList", () => {
  it("matches IPv4 and IPv6 CIDRs, and IPv4-mapped IPv6 addresses as IPv4", () => {
    const n = new NetworkList(["127.0.0.0/8", "::1/128", "10.1.0.0/16"]);
    expect(n.has("127.0.0.1")).toBe(true);
    expect(n.has("127.255.0.9")).toBe(true);
    expect(n.has("::1")).toBe(true);
    expect(n.has("::ffff:127.0.0.1")).toBe(true);
    expect(n.has("::ffff:10.1.2.3")).toBe(true);
    expect(n.has("10.2.0.1")).toBe(false);
    expect(n.has("192.168.1.1")).toBe(false);
    expect(n.has("::2")).toBe(false);
    expect(n.has("not-an-address")).toBe(false);
  });

  it("an empty list matches nothing (anonymous access off)", () => {
    const n = new NetworkList([]);
    expect(n.empty).toBe(true);
    expect(n.has("127.0.0.1")).toBe(false);
    expect(n.has("::1")).toBe(false);
  });

  it("refuses what is not a CIDR", () => {
    expect(() => new NetworkList(["localhost/8"])).toThrow(/not a CIDR/);
    expect(() => new NetworkList(["10.0.0.0/33"])).toThrow(/prefix/);
  });
});

describe("peerAddress", () => {
  it("takes the address of grpc-js peers in every form", () => {
    expect(peerAddress("127.0.0.1:50000")).toBe("127.0.0.1");
    expect(peerAddress("::1:50000")).toBe("::1");
    expect(peerAddress("::ffff:10.0.0.2:4000")).toBe("10.0.0.2");
    expect(peerAddress("ipv4:192.168.0.1:443")).toBe("192.168.0.1");
    expect(peerAddress("ipv6:[2001:db8::1]:443")).toBe("2001:db8::1");
    expect(peerAddress("[2001:db8::1]:443")).toBe("2001:db8::1");
    expect(peerAddress("/run/ifc.sock")).toBe("/run/ifc.sock");
  });
});
