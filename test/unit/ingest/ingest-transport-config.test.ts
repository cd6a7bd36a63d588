import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config.js";
import { problemOfDomainError } from "../../../src/control/domain-problem.js";
import { Unsupported } from "../../../src/core/errors.js";
import { tidyAnswer } from "../../../src/ingest/ldc-whip-peer.js";

describe("IFC_RTC_INGEST_TRANSPORT", () => {
  it("defaults to werift and takes libdatachannel", () => {
    expect(loadConfig({}).rtcIngestTransport).toBe("werift");
    expect(loadConfig({ IFC_RTC_INGEST_TRANSPORT: "libdatachannel" }).rtcIngestTransport).toBe("libdatachannel");
  });

  it("refuses an unknown transport, naming the key and the values it takes", () => {
    let thrown: unknown;
    try {
      loadConfig({ IFC_RTC_INGEST_TRANSPORT: "pion" });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toBe('IFC_RTC_INGEST_TRANSPORT: expected one of werift, libdatachannel, got "pion"');
  });

  it("a refused ICE restart is 422 (RFC 9725 §4.3.1: trickle works, restarts do not)", () => {
    const p = problemOfDomainError(new Unsupported("ice-restart-unsupported", "no restart"));
    expect(p.status).toBe(422);
  });
});

describe("tidyAnswer (libdatachannel's answer as the publisher is told it)", () => {
  const answer = [
    "m=video 5000 UDP/TLS/RTP/SAVPF 96", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 goog-remb",
    "a=candidate:2 1 UDP 2116026111 fd00::2 5000 typ host", "a=candidate:1 1 UDP 2114977791 192.0.2.2 5000 typ host", "",
  ].join("\r\n");

  it("drops the bare nack (never sent) and, without IFC_RTC_IPV6, IPv6 candidates", () => {
    expect(tidyAnswer(answer, 96, false)).toBe(["m=video 5000 UDP/TLS/RTP/SAVPF 96", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 goog-remb", "a=candidate:1 1 UDP 2114977791 192.0.2.2 5000 typ host", ""].join("\r\n"));
  });

  it("keeps IPv6 candidates with IFC_RTC_IPV6", () => {
    expect(tidyAnswer(answer, 96, true)).toContain("fd00::2");
  });
});
