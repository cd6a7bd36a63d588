import { OPUS_CLOCK_HZ } from "./types.js";

/**
 * The RTP clock of an audio track, which its frames' `rtpTime` counts in: Opus always runs at
 * 48 kHz (RFC 7587), AAC at its sample rate (RFC 3640, as RTSP publishers and cameras send it).
 */
export function audioClockHz(audio: { codec: "opus" | "aac"; sampleRate: number }): number {
  return audio.codec === "aac" ? audio.sampleRate : OPUS_CLOCK_HZ;
}
