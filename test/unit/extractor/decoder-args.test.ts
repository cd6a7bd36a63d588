import { describe, expect, it } from "vitest";
import { decoderArgs, outputGeometry, rawFrameBytes } from "../../../src/extractor/decoder-args.js";

describe("outputGeometry", () => {
  it("scales down to maxHeight keeping the aspect, never up, even sizes", () => {
    expect(outputGeometry(1920, 1080, 720)).toEqual({ width: 1280, height: 720 });
    expect(outputGeometry(1280, 720, 2160)).toEqual({ width: 1280, height: 720 });
    expect(outputGeometry(640, 480, 361)).toEqual({ width: 480, height: 360 });
    expect(outputGeometry(640, 480, 362)).toEqual({ width: 482, height: 362 });
    expect(outputGeometry(1279, 719, 4000)).toEqual({ width: 1278, height: 718 });
    expect(outputGeometry(1920, 1080, 99)).toEqual({ width: 174, height: 98 });
  });

  it("frame sizes per format", () => {
    expect(rawFrameBytes({ width: 4, height: 2 }, "gray8")).toBe(8);
    expect(rawFrameBytes({ width: 4, height: 2 }, "rgb24")).toBe(24);
    expect(rawFrameBytes({ width: 4, height: 2 }, "jpeg")).toBeUndefined();
  });
});

describe("decoderArgs", () => {
  it("low-latency input, one thread, passthrough timing, scale only when needed", () => {
    const a = decoderArgs({ geometry: { width: 640, height: 360 }, source: { width: 1280, height: 720 }, format: "gray8" });
    const s = a.join(" ");
    expect(s).toContain("-probesize 32 -analyzeduration 0 -flags low_delay -threads 1 -f h264 -i pipe:0");
    expect(s).not.toContain("nobuffer");
    expect(s).toContain("-vf scale=640:360");
    expect(s).toContain("-fps_mode passthrough -threads 1 -pix_fmt gray -f rawvideo");
    expect(a.at(-1)).toBe("pipe:1");
    const same = decoderArgs({ geometry: { width: 1280, height: 720 }, source: { width: 1280, height: 720 }, format: "jpeg" }).join(" ");
    expect(same).not.toContain("-vf");
    expect(same).toContain("-c:v mjpeg");
  });

  it("decimates before scaling, with the comma escaped for the filter graph", () => {
    const a = decoderArgs({ geometry: { width: 640, height: 360 }, source: { width: 1280, height: 720 }, format: "gray8", keepEvery: 3 });
    expect(a[a.indexOf("-vf") + 1]).toBe("select=not(mod(n\\,3)),scale=640:360:flags=bilinear");
    expect(() => decoderArgs({ geometry: { width: 2, height: 2 }, source: { width: 2, height: 2 }, format: "gray8", keepEvery: 0 })).toThrow(RangeError);
  });
});
