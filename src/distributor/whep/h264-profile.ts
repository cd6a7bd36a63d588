/**
 * H.264 profiles as WebRTC negotiates them (the classes of webrtc's H264ProfileLevelId),
 * read from a profile-level-id (RFC 6184) or from the stream's own SPS.
 */
export type H264Profile = "constrained-baseline" | "baseline" | "main" | "high" | "constrained-high" | "other";

/** The profile of a profile_idc and its constraint-set flags byte. */
export function h264Profile(profileIdc: number, constraintFlags: number): H264Profile {
  const set1 = (constraintFlags & 0x40) !== 0;
  switch (profileIdc) {
    case 0x42:
      return set1 ? "constrained-baseline" : "baseline";
    case 0x4d:
      // Main with constraint_set1 also meets Constrained Baseline's limits (webrtc: 4de0).
      return set1 ? "constrained-baseline" : "main";
    case 0x64:
      // constraint_set4 + set5: no B-frames (webrtc's Constrained High, 640c).
      return (constraintFlags & 0x0c) === 0x0c ? "constrained-high" : "high";
    default:
      return "other";
  }
}

/** The profile of an SDP profile-level-id ("42e01f"); RFC 6184: absent means 42000a. */
export function profileOfLevelId(profileLevelId: string | undefined): H264Profile {
  const pli = profileLevelId ?? "42000a";
  if (!/^[0-9a-fA-F]{6}$/.test(pli)) return "other";
  return h264Profile(parseInt(pli.slice(0, 2), 16), parseInt(pli.slice(2, 4), 16));
}

/**
 * Which decoder profiles can decode a stream of `stream`'s profile, best (exact) first: a
 * decoder of a richer profile takes the poorer one's streams (High ⊇ Main ⊇ CB, Baseline ⊇ CB),
 * so a viewer that offers no exact match can still be served without transcoding.
 */
export function decodersFor(stream: H264Profile): H264Profile[] {
  switch (stream) {
    case "constrained-baseline":
      return ["constrained-baseline", "baseline", "main", "constrained-high", "high"];
    case "baseline":
      return ["baseline"];
    case "main":
      return ["main", "high"];
    case "constrained-high":
      return ["constrained-high", "high"];
    case "high":
      return ["high"];
    case "other":
      return [];
  }
}
