import { describe, expect, it } from "vitest";
import { StreamHub, type TappedRtpPacket } from "../../../src/core/stream-hub.js";
import { StreamFanout } from "../../../src/distributor/whep/stream-fanout.js";
import type { ViewerForwarder } from "../../../src/distributor/whep/viewer-forwarder.js";

function pkt(seq: number, timestamp: number, payload: number[], marker = false): TappedRtpPacket {
  return { header: { sequenceNumber: seq & 0xffff, timestamp, marker, ssrc: 1, payloadType: 96 }, payload: Buffer.from(payload) };
}

describe("StreamFanout", () => {
  it("stores the hub's RTP by kind, and stops tapping when closed", () => {
    const hub = new StreamHub("cam", { video: { codec: "h264" } }, 8);
    const fanout = new StreamFanout(hub, { minPackets: 64, bufferMs: 10_000, bufferBytes: 1 << 20 });
    hub.publishRtp("video", pkt(1, 0, [0x65, 0], true));
    hub.publishRtp("audio", pkt(5, 0, [0xfc]));
    expect([fanout.video.head, fanout.audio.head, fanout.video.keyframes]).toEqual([1, 1, 1]);
    fanout.close();
    hub.publishRtp("video", pkt(2, 3000, [0x41, 0], true));
    expect(fanout.video.head).toBe(1);
  });

  it("keeps video by age only while it has viewers: unwatched, the newest GOP and the NACK floor", () => {
    const hub = new StreamHub("cam", { video: { codec: "h264" } }, 8);
    let now = 0;
    const fanout = new StreamFanout(hub, { minPackets: 64, bufferMs: 10_000, bufferBytes: 1 << 20 }, () => now);
    const gop = (from: number, n: number): void => {
      for (let i = from; i < from + n; i++) {
        hub.publishRtp("video", pkt(i, i * 3000, [i % 100 === 0 ? 0x65 : 0x41, 0], true));
        now += 10;
      }
    };
    gop(0, 300); // 3 s, IDRs every 100 packets: the newest GOP is 100, more than the floor
    expect(fanout.video.keepByAge).toBe(false);
    expect([fanout.video.tail, fanout.video.size]).toEqual([200, 100]);
    const viewer = {} as ViewerForwarder; // the fan-out only counts it here; pump is not reached
    fanout.add(viewer);
    gop(300, 300);
    expect(fanout.video.keepByAge).toBe(true);
    expect([fanout.video.tail, fanout.video.size]).toEqual([200, 400]); // nothing is 10 s old yet
    fanout.remove(viewer);
    expect(fanout.video.keepByAge).toBe(false);
    gop(600, 1);
    expect([fanout.video.tail, fanout.video.size]).toEqual([537, 64]); // a 1-packet GOP: the floor
    fanout.close();
  });

  it("coalesces keyframe needs while a request is outstanding; a keyframe or a second ends it", () => {
    const hub = new StreamHub("cam", { video: { codec: "h264" } }, 8);
    const sent: string[] = [];
    hub.setKeyframeRequester((r) => sent.push(r));
    let now = 1000;
    const fanout = new StreamFanout(hub, { minPackets: 64, bufferMs: 10_000, bufferBytes: 1 << 20 }, () => now);
    for (let i = 0; i < 20; i++) fanout.requestKeyframe("join");
    expect(sent).toEqual(["whep-join"]);
    now += 200;
    fanout.requestKeyframe("viewer-pli");
    expect(sent.length).toBe(1);
    hub.publishRtp("video", pkt(1, 0, [0x65, 0], true)); // the keyframe came
    fanout.requestKeyframe("join");
    expect(sent).toEqual(["whep-join", "whep-join"]);
    now += 1000; // none came for a second: ask again
    fanout.requestKeyframe("viewer-pli");
    expect(sent).toEqual(["whep-join", "whep-join", "whep-viewer-pli"]);
    expect(fanout.keyframeRequests).toEqual({ sent: 3, coalesced: 20 });
  });
});
