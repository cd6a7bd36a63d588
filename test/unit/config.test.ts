import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_SPEC, ConfigError, loadConfig } from "../../src/config.js";

describe("config", () => {
  it("has laptop defaults", () => {
    const c = loadConfig({});
    expect(c.httpPort).toBe(8080);
    expect(c.dataDir).toBe("./data");
    expect(c.segmentDurationMs).toBe(4000);
    expect(c.partDurationMs).toBe(1000);
    expect(c.iceServers).toEqual([]);
  });

  it("lets every key be overridden by its IFC_ variable", () => {
    const c = loadConfig({ IFC_HTTP_PORT: "9000", IFC_RECORD: "false", IFC_ICE_SERVERS: "stun:a:3478, turn:b:3478", IFC_LOG_LEVEL: "debug" });
    expect(c.httpPort).toBe(9000);
    expect(c.recordByDefault).toBe(false);
    expect(c.iceServers).toEqual(["stun:a:3478", "turn:b:3478"]);
    expect(c.logLevel).toBe("debug");
    for (const spec of Object.values(CONFIG_SPEC)) expect(spec.env).toMatch(/^IFC_[A-Z0-9_]+$/);
  });

  it("refuses bad values with the variable's name", () => {
    expect(() => loadConfig({ IFC_HTTP_PORT: "80a" })).toThrow(/IFC_HTTP_PORT/);
    expect(() => loadConfig({ IFC_HTTP_PORT: "70000" })).toThrow(ConfigError);
    expect(() => loadConfig({ IFC_RECORD: "maybe" })).toThrow(/IFC_RECORD/);
    expect(() => loadConfig({ IFC_LOG_LEVEL: "loud" })).toThrow(/IFC_LOG_LEVEL/);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50000" })).toThrow(/both/);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50010", IFC_RTC_PORT_MAX: "50000" })).toThrow(ConfigError);
    expect(() => loadConfig({ IFC_RTC_PORT_MIN: "50000", IFC_RTC_PORT_MAX: "50000" })).toThrow(/two or more/);
    expect(loadConfig({ IFC_RTC_PORT_MIN: "50000", IFC_RTC_PORT_MAX: "50001" }).rtcPortMax).toBe(50001);
    expect(() => loadConfig({ IFC_PART_DURATION_MS: "5000" })).toThrow(/PART/);
  });

  it("is documented: the README table names every variable", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const spec of Object.values(CONFIG_SPEC)) expect(readme).toContain(`\`${spec.env}\``);
  });
});
