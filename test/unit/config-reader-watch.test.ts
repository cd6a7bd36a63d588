import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("config: the stream readers' watch (IFC_READER_*)", () => {
  it("IFC_READER_MAX_CONSECUTIVE_ERRORS takes 1 at least and refuses 0 by name", () => {
    expect(loadConfig({}).readerMaxConsecutiveErrors).toBe(30);
    expect(loadConfig({ IFC_READER_MAX_CONSECUTIVE_ERRORS: "1" }).readerMaxConsecutiveErrors).toBe(1);
    expect(() => loadConfig({ IFC_READER_MAX_CONSECUTIVE_ERRORS: "0" })).toThrow(ConfigError);
    expect(() => loadConfig({ IFC_READER_MAX_CONSECUTIVE_ERRORS: "0" })).toThrow(/IFC_READER_MAX_CONSECUTIVE_ERRORS/);
  });

  it("IFC_READER_WARN_INTERVAL_MS takes 1 ms at least and refuses 0 by name", () => {
    expect(loadConfig({}).readerWarnIntervalMs).toBe(10_000);
    expect(loadConfig({ IFC_READER_WARN_INTERVAL_MS: "1" }).readerWarnIntervalMs).toBe(1);
    expect(() => loadConfig({ IFC_READER_WARN_INTERVAL_MS: "0" })).toThrow(/IFC_READER_WARN_INTERVAL_MS/);
  });
});
