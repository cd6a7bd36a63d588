import { describe, expect, it } from "vitest";
import { peerAddress } from "../../../../src/control/grpc/peer-address.js";

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
