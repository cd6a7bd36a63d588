import { describe, expect, it } from "vitest";
import { CapacityExceeded, Conflict, InvalidInput } from "../../../src/core/errors.js";
import { assertStreamName } from "../../../src/core/stream-name.js";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import type { StreamStats } from "../../../src/core/stream-registry.js";

const stats = (): StreamStats => ({ protocol: "whip", sessionId: "s", since: 0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });
const tracks = { video: { codec: "h264" as const, profileLevelId: "42e01f" } };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("core throws domain errors, with no HTTP in them", () => {
  it("stream names: InvalidInput invalid-stream-name, reserved names included", () => {
    for (const name of ["a.b", "x".repeat(65), "", "clips", "auth", "a b"]) {
      const err = thrown(() => assertStreamName(name));
      expect(err).toBeInstanceOf(InvalidInput);
      expect((err as InvalidInput).slug).toBe("invalid-stream-name");
      expect(err).not.toHaveProperty("status");
    }
    expect(() => assertStreamName("x".repeat(64))).not.toThrow();
  });

  it("registry: a second claim is a Conflict, one past the limit is CapacityExceeded with a retry hint", () => {
    const registry = new StreamRegistry({ maxStreams: 1, readerQueueFrames: 4 });
    const cam = registry.claim("cam1", "s1", tracks, stats);
    const busy = thrown(() => registry.claim("cam1", "s2", tracks, stats));
    expect(busy).toBeInstanceOf(Conflict);
    expect((busy as Conflict).slug).toBe("stream-busy");
    const full = thrown(() => registry.claim("cam2", "s3", tracks, stats));
    expect(full).toBeInstanceOf(CapacityExceeded);
    expect((full as CapacityExceeded).slug).toBe("too-many-publishers");
    expect((full as CapacityExceeded).retryAfterSeconds).toBe(5);
    registry.release(cam);
    expect(() => registry.claim("cam2", "s3", tracks, stats)).not.toThrow();
  });
});
