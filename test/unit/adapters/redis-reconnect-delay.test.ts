import { describe, expect, it } from "vitest";
import { reconnectDelayMs } from "../../../src/adapters/state/redis-connection.js";

describe("Redis reconnect backoff", () => {
  it("doubles from 50 ms and stops at its cap, however many attempts failed", () => {
    expect([1, 2, 3, 4, 5].map((n) => reconnectDelayMs(n, 1000))).toEqual([50, 100, 200, 400, 800]);
    expect(reconnectDelayMs(6, 1000)).toBe(1000);
    expect(reconnectDelayMs(5, 800)).toBe(800);
    expect(reconnectDelayMs(5, 799)).toBe(799);
    expect(reconnectDelayMs(10_000, 1000)).toBe(1000);
  });
});
