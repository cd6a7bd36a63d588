/**
 * Fragmented MP4 (ISO BMFF, CMAF-style) writing, by hand on purpose. Recordings are cut into
 * ~1 s parts inside keyframe-aligned ~4 s segments, and publishers such as Chromium send IDR
 * frames only on request, so parts must start at non-key frames. Two libraries were read for
 * this and neither is a dependency: mediabunny 1.61 starts a fragment only where every track
 * has a key frame (isobmff-muxer.js, addSampleToTrack: `keyFrameQueuedEverywhere`), and
 * mp4box.js segments only into single-sample moofs (createSingleSampleMoof): neither can
 * write these parts.
 */
export { buildInitSegment, type InitOptions, type InitVideoTrack, type InitAudioTrack, type InitOpusTrack, type InitAacTrack, type VideoSampleEntry } from "./init-segment.js";
export { buildAvcC } from "./avc-decoder-config.js";
export { buildMediaFragment, type FragmentOptions, type FragmentTrack, type FragmentSample } from "./media-fragment.js";
export { readBoxes, type BoxInfo } from "./box-reader.js";
export { readFragment, type FragmentInfo, type FragmentTrackInfo } from "./fragment-reader.js";
export { patchFragment, type FragmentPatch, type FragmentTrackPatch } from "./fragment-patch.js";
