import { describe, expect, it } from "vitest";
import type { StreamTracks, TappedRtpPacket } from "../../../src/core/stream-hub.js";
import { StreamHub } from "../../../src/core/stream-hub.js";
import { StreamFanout } from "../../../src/distributor/whep/stream-fanout.js";
import { selectViewerCodecs } from "../../../src/distributor/whep/viewer-offer.js";
import { parseOffer } from "../../../src/rtc/sdp-offer.js";

const OFFER = [
  "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
  "m=video 9 UDP/TLS/RTP/SAVPF 104", "a=mid:0", "a=recvonly",
  "a=rtpmap:104 H264/90000", "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:1", "a=recvonly", "a=rtpmap:111 opus/48000/2", "",
].join("\r\n");

const AAC: StreamTracks = { video: { codec: "h264", profileLevelId: "42e01f" }, audio: { codec: "aac", channels: 2, sampleRate: 48_000, config: Uint8Array.of(0x11, 0x90) } };

describe("WHEP viewers of an AAC stream", () => {
  it("get video only: WebRTC has no AAC, so no audio codec is chosen (the m-line is answered inactive)", () => {
    const sel = selectViewerCodecs(parseOffer(OFFER), AAC);
    expect(sel.video.payloadType).toBe(104);
    expect(sel.audio).toBeUndefined();
    expect(sel.audioIndex).toBeUndefined();
    // The same offer on an Opus stream does get audio.
    expect(selectViewerCodecs(parseOffer(OFFER), { ...AAC, audio: { codec: "opus", channels: 2, sampleRate: 48_000 } }).audio?.payloadType).toBe(111);
  });

  it("the fan-out keeps no AAC packets (nothing would send them)", () => {
    const hub = new StreamHub("cam", AAC, 8);
    const fanout = new StreamFanout(hub, { minPackets: 16, bufferMs: 5000, bufferBytes: 1 << 20 });
    const pkt = (kind: "video" | "audio", seq: number, payload: number[]): TappedRtpPacket => ({ header: { sequenceNumber: seq, timestamp: 0, marker: true, ssrc: 1, payloadType: 96 }, payload: Buffer.from(payload) });
    hub.publishRtp("video", pkt("video", 1, [0x65, 0]));
    hub.publishRtp("audio", pkt("audio", 5, [0, 16, 0, 8, 1]));
    expect([fanout.video.head, fanout.audio.head]).toEqual([1, 0]);
    fanout.close();
  });
});
