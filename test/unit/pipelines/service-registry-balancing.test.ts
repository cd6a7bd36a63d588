import { describe, expect, it } from "vitest";
import { pickCandidate } from "../../../src/pipelines/balancing.js";

const c = (inFlight: number, avgResponseMs?: number) => ({ inFlight, avgResponseMs });
const never = () => {
  throw new Error("random must not be drawn");
};

describe("pickCandidate", () => {
  it("least-connections: fewest in flight; ties go round-robin from the cursor", () => {
    expect(pickCandidate([c(2), c(0), c(1)], "least-connections", 0, never)).toBe(1);
    const equal = [c(1), c(1), c(1)];
    expect([0, 1, 2, 3].map((cur) => pickCandidate(equal, "least-connections", cur, never))).toEqual([0, 1, 2, 0]);
  });

  it("response-time: lowest EWMA, untimed first, then fewest in flight", () => {
    expect(pickCandidate([c(0, 50), c(0, 10), c(0, 30)], "response-time", 0, never)).toBe(1);
    expect(pickCandidate([c(0, 10), c(5, undefined)], "response-time", 0, never)).toBe(1);
    expect(pickCandidate([c(3, 10), c(1, 10)], "response-time", 0, never)).toBe(1);
  });

  it("random: the injected draw, clamped to the last index", () => {
    const cs = [c(0), c(0), c(0), c(0)];
    expect(pickCandidate(cs, "random", 0, () => 0.49)).toBe(1);
    expect(pickCandidate(cs, "random", 0, () => 0.9999999)).toBe(3);
    expect(pickCandidate(cs, "random", 0, () => 1)).toBe(3);
    expect(() => pickCandidate([], "random", 0, () => 0)).toThrow(RangeError);
  });
});

describe("service names and instance lists", () => {
  it("parses Service=host:port lists into full names, rejecting bad entries", async () => {
    const { parseInstanceList, fullServiceName, InvalidInstanceError } = await import("../../../src/pipelines/service-names.js");
    expect(parseInstanceList(" ResizeService=10.0.0.5:50051, imageflow.v1.FilterService=svc-filter:50053\nacme.Det=[::1]:1 ")).toEqual([
      { service: "imageflow.v1.ResizeService", address: "10.0.0.5:50051" },
      { service: "imageflow.v1.FilterService", address: "svc-filter:50053" },
      { service: "acme.Det", address: "[::1]:1" },
    ]);
    expect(parseInstanceList("")).toEqual([]);
    for (const bad of ["ResizeService", "=1.2.3.4:5", "ResizeService=1.2.3.4", "ResizeService=1.2.3.4:0", "ResizeService=h:65536"]) {
      expect(() => parseInstanceList(bad)).toThrow(InvalidInstanceError);
    }
    expect(parseInstanceList("ResizeService=h:65535")[0]!.address).toBe("h:65535");
    expect(fullServiceName("AIDetectionService")).toBe("imageflow.v1.AIDetectionService");
  });
});
