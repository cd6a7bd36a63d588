import { describe, expect, it } from "vitest";
import { RtcpPacketConverter } from "werift";
import { byeCompound, serializeRecord } from "../../../src/rtc/peer-close.js";
import { parseUdpTable } from "../../../src/rtc/socket-buffer.js";

describe("RTCP BYE compound", () => {
  it("is an empty receiver report then a BYE naming every SSRC (RFC 3550 §6.1, §6.6)", () => {
    const buf = byeCompound([0x11223344, 0xdeadbeef]);
    expect(buf.length).toBe(8 + 4 + 8);
    // RR: V=2 RC=0, PT 201, length 1 word after the header
    expect([...buf.subarray(0, 4)]).toEqual([0x80, 201, 0, 1]);
    expect(buf.readUInt32BE(4)).toBe(0x11223344);
    // BYE: V=2 SC=2, PT 203, length 2
    expect([...buf.subarray(8, 12)]).toEqual([0x82, 203, 0, 2]);
    expect(buf.readUInt32BE(12)).toBe(0x11223344);
    expect(buf.readUInt32BE(16)).toBe(0xdeadbeef);
    // werift parses the report and walks past the BYE by its length field
    const parsed = RtcpPacketConverter.deSerialize(buf);
    expect(parsed.map((p) => p.type)).toEqual([201]);
  });

  it("refuses no SSRC and more than 31 (the SC field has 5 bits)", () => {
    expect(() => byeCompound([])).toThrow(RangeError);
    expect(() => byeCompound(Array.from({ length: 32 }, (_, i) => i + 1))).toThrow(RangeError);
    expect(byeCompound(Array.from({ length: 31 }, (_, i) => i + 1))[8]).toBe(0x80 | 31);
  });
});

describe("DTLS record serialization", () => {
  it("writes type, version, epoch, 48-bit sequence number and length before the fragment", () => {
    const out = serializeRecord({
      recordLayerHeader: { contentType: 21, protocolVersion: { major: 254, minor: 253 }, epoch: 1, sequenceNumber: 0x010203040506, contentLen: 3 },
      fragment: Buffer.from([9, 8, 7]),
    });
    expect([...out]).toEqual([21, 254, 253, 0, 1, 1, 2, 3, 4, 5, 6, 0, 3, 9, 8, 7]);
  });
});

describe("/proc/net/udp drops", () => {
  const table = [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    " 1234: 0100007F:C350 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 111 2 0000000000000000 17",
    " 1235: 00000000:C351 00000000:0000 07 00000000:00034000 00:00000000 00000000  1000        0 112 2 0000000000000000 0",
    "",
  ].join("\n");

  it("keys the last column by the local port (hex)", () => {
    const t = parseUdpTable(table);
    expect(t.get(50000)).toBe(17);
    expect(t.get(50001)).toBe(0);
    expect(t.size).toBe(2);
  });

  it("adds udp and udp6 rows of the same port together, and skips malformed lines", () => {
    const t = parseUdpTable(table);
    parseUdpTable("header\n 1: 00000000000000000000000000000000:C350 0:0 07 0:0 00:0 0 0 0 1 2 0 5\ngarbage\n", t);
    expect(t.get(50000)).toBe(22);
  });
});
