import { Segmenter, type InitOutput, type PartOutput, type SegmentClosed, type SegmenterOptions } from "../../src/recorder/segmenter.js";

/** A Segmenter whose outputs (inits, parts, closed segments, keyframe requests) are collected for assertions. */
export function collectSegmenter(opts: SegmenterOptions) {
  const inits: InitOutput[] = [];
  const parts: PartOutput[] = [];
  const closed: SegmentClosed[] = [];
  const requests: string[] = [];
  const seg = new Segmenter(opts, {
    init: (o) => inits.push(o),
    part: (o) => parts.push(o),
    segmentClosed: (o) => closed.push(o),
    requestKeyframe: (r) => requests.push(r),
  });
  return { seg, inits, parts, closed, requests };
}
