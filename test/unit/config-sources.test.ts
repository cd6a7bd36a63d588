import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-config-sources-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function yaml(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

describe("config: sources (IFC_SOURCES)", () => {
  it("takes a YAML list of objects in the config file, with transport and mode defaulting to auto and always", async () => {
    const file = await yaml("sources.yaml", [
      "sources:",
      "  - name: gate",
      "    url: rtsp://admin:pa%3Ass@10.0.0.7:554/Streaming/Channels/101",
      "  - name: dock",
      "    url: rtsp://10.0.0.8/live",
      "    transport: udp",
      "    mode: on-demand",
      "IFC_SOURCE_RETRY_MAX_MS: 5000",
    ].join("\n"));
    const c = loadConfig({ IFC_CONFIG: file });
    expect(c.sources).toEqual([
      { name: "gate", url: "rtsp://admin:pa%3Ass@10.0.0.7:554/Streaming/Channels/101", transport: "auto", mode: "always" },
      { name: "dock", url: "rtsp://10.0.0.8/live", transport: "udp", mode: "on-demand" },
    ]);
    expect(c.sourceRetryMaxMs).toBe(5000);
  });

  it("takes a JSON array in the environment variable, which wins over the file", async () => {
    const file = await yaml("env-wins.yaml", "sources:\n  - name: a\n    url: rtsp://h/a\n");
    const c = loadConfig({ IFC_CONFIG: file, IFC_SOURCES: '[{"name":"b","url":"rtsp://h/b","transport":"tcp"}]' });
    expect(c.sources).toEqual([{ name: "b", url: "rtsp://h/b", transport: "tcp", mode: "always" }]);
    expect(loadConfig({ IFC_SOURCES: "[]" }).sources).toEqual([]);
  });

  it("refuses bad sources naming the key, the entry and the field", async () => {
    const bad: [string, RegExp][] = [
      ["not json", /IFC_SOURCES: expected a JSON array/],
      ['{"name":"a"}', /IFC_SOURCES: expected a list of sources/],
      ['[{"url":"rtsp://h/a"}]', /IFC_SOURCES\[0\]: name must be a stream name/],
      ['[{"name":"bad name","url":"rtsp://h/a"}]', /IFC_SOURCES\[0\]: name must be a stream name/],
      ['[{"name":"clips","url":"rtsp://h/a"}]', /IFC_SOURCES\[0\]: name must be a stream name/],
      ['[{"name":"a","url":"http://h/a"}]', /IFC_SOURCES\[0\]: source "a": the URL's scheme must be rtsp:\/\//],
      ['[{"name":"a","url":"h/a"}]', /IFC_SOURCES\[0\]: source "a": "h\/a" is not an absolute URL/],
      ['[{"name":"a","url":"rtsp://h/a","transport":"sctp"}]', /transport must be one of tcp, udp, auto/],
      ['[{"name":"a","url":"rtsp://h/a","mode":"sometimes"}]', /mode must be one of always, on-demand/],
      ['[{"name":"a","url":"rtsp://h/a","user":"x"}]', /unknown field "user"/],
      ['[{"name":"a","url":"rtsp://h/a"},{"name":"a","url":"rtsp://h/b"}]', /IFC_SOURCES\[1\]: stream "a" has two sources/],
    ];
    for (const [value, message] of bad) {
      expect(() => loadConfig({ IFC_SOURCES: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ IFC_SOURCES: value }), value).toThrow(message);
    }
    const file = await yaml("bad.yaml", "sources:\n  name: a\n");
    expect(() => loadConfig({ IFC_CONFIG: file })).toThrow(`${file}: sources: expected a list of sources`);
    // A failed source's password is not echoed in the error.
    for (const url of ["ftp://u:topsecret@h/a", "rtsp://u:topsecret@[bad/a"]) {
      let message = "";
      try {
        loadConfig({ IFC_SOURCES: JSON.stringify([{ name: "a", url }]) });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/IFC_SOURCES\[0\]/);
      expect(message).not.toContain("topsecret");
    }
  });

  it("refuses retry bounds the wrong way round, and takes them at their edges", () => {
    expect(() => loadConfig({ IFC_SOURCE_RETRY_MIN_MS: "5000", IFC_SOURCE_RETRY_MAX_MS: "4999" })).toThrow(/IFC_SOURCE_RETRY_MIN_MS/);
    expect(loadConfig({ IFC_SOURCE_RETRY_MIN_MS: "5000", IFC_SOURCE_RETRY_MAX_MS: "5000" }).sourceRetryMinMs).toBe(5000);
    expect(() => loadConfig({ IFC_SOURCE_RETRY_MIN_MS: "0" })).toThrow(/IFC_SOURCE_RETRY_MIN_MS/);
    expect(() => loadConfig({ IFC_SOURCE_CONNECT_TIMEOUT_MS: "99" })).toThrow(/IFC_SOURCE_CONNECT_TIMEOUT_MS/);
    expect(loadConfig({ IFC_SOURCE_CONNECT_TIMEOUT_MS: "100" }).sourceConnectTimeoutMs).toBe(100);
    expect(loadConfig({ IFC_SOURCE_ON_DEMAND_CLOSE_AFTER_MS: "0" }).sourceOnDemandCloseAfterMs).toBe(0);
  });
});
