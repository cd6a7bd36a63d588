import { describe, expect, it } from "vitest";
import { parseMediaName, partFileName, RECORDING_ID, segmentFileName } from "../../../src/distributor/hls/media-names.js";
import { initKey, newRecordingId, partKey } from "../../../src/recorder/manifest.js";

describe("HLS media names", () => {
  it("parses init, segment and part names in their canonical form", () => {
    expect(parseMediaName("init-0.mp4")).toEqual({ kind: "init", index: 0 });
    expect(parseMediaName("init-12.mp4")).toEqual({ kind: "init", index: 12 });
    expect(parseMediaName("000007.m4s")).toEqual({ kind: "segment", seq: 7 });
    expect(parseMediaName("000007-03.m4s")).toEqual({ kind: "part", seq: 7, part: 3 });
    expect(parseMediaName("1234567-123.m4s")).toEqual({ kind: "part", seq: 1_234_567, part: 123 });
  });

  it("names exactly what the recorder stores", () => {
    const base = (key: string): string => key.split("/").pop() as string;
    expect(parseMediaName(base(initKey("cam1", "r", 3)))).toEqual({ kind: "init", index: 3 });
    for (const [seq, part] of [[0, 0], [7, 3], [123456, 99], [1_000_000, 100]] as const) {
      expect(partFileName(seq, part)).toBe(base(partKey("cam1", "r", seq, part)));
      expect(parseMediaName(partFileName(seq, part))).toEqual({ kind: "part", seq, part });
      expect(parseMediaName(segmentFileName(seq))).toEqual({ kind: "segment", seq });
    }
    expect(RECORDING_ID.test(newRecordingId(Date.UTC(2026, 10, 23, 5, 40), "3f9a"))).toBe(true);
  });

  it("refuses anything else: other spellings, traversal, other objects", () => {
    for (const bad of [
      "", "manifest.json", "init-01.mp4", "init--1.mp4", "init-0.mp4x", "INIT-0.mp4", "0000007.m4s", "7.m4s", "000007-3.m4s",
      "000007-003.m4s", "000007.mp4", "../000007.m4s", "..", ".", "000007.m4s/", "000007.m4s\0", "init-0.mp4?x", "a/000007.m4s", " 000007.m4s",
    ]) {
      expect(parseMediaName(bad), JSON.stringify(bad)).toBeUndefined();
    }
    for (const bad of ["", "..", ".", "a/b", "a.b", "x".repeat(65)]) expect(RECORDING_ID.test(bad), bad).toBe(false);
  });
});
