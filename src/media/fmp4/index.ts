/**
 * Fragmented MP4 (ISO BMFF) writing, by hand on purpose: recordings are cut into ~1 s parts
 * inside keyframe-aligned segments, and publishers such as Chromium send IDR frames only on
 * request, so parts must start at non-key frames. mediabunny 1.61 only starts a fragment where
 * every track has a key frame (isobmff-muxer.js, addSampleToTrack: `keyFrameQueuedEverywhere`),
 * and mp4box.js offers only single-sample moofs for segmentation; neither can write these parts.
 */
export { buildInitSegment, avcC, type InitOptions, type InitVideoTrack, type InitAudioTrack, type VideoSampleEntry } from "./init-segment.js";
export { buildMediaFragment, type FragmentOptions, type FragmentTrack, type FragmentSample } from "./media-fragment.js";
export { readBoxes, readFragment, type BoxInfo, type FragmentTrackInfo } from "./box-reader.js";
