import { afterEach, describe, expect, it } from "vitest";
import { RTCPeerConnection } from "werift";
import { dtlsTransports } from "../../src/rtc/werift-internals.js";
import { startDtlsClientSooner } from "../../src/rtc/werift-dtls-start.js";
import { disableDefaultStun, waitConnected, waitIceGathered } from "../helpers/werift-ice.js";

/**
 * The server is the DTLS client of every session it answers; startDtlsClientSooner sends its
 * ClientHello `delayMs` after the transport starts instead of werift's 100 ms. Two real werift
 * peers on loopback: the answerer's handshake is started by our timer (timers fire in expiry
 * order, so a 10 ms timer set with werift's 100 ms one always comes first, however busy the
 * machine), werift's own call later gets the same handshake, and the peers connect.
 */
const CONNECT_TIMEOUT_MS = 15_000;
const open: RTCPeerConnection[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((pc) => pc.close()));
});

type Pair = { answerer: RTCPeerConnection; offerer: RTCPeerConnection; startedBy: () => unknown[] };

async function pair(delayMs: number): Promise<Pair> {
  const offerer = new RTCPeerConnection({ iceServers: [] });
  const answerer = new RTCPeerConnection({ iceServers: [] });
  open.push(offerer, answerer);
  offerer.addTransceiver("video", { direction: "sendonly" });
  const offer = await offerer.createOffer();
  disableDefaultStun(offerer);
  await offerer.setLocalDescription(offer);
  await waitIceGathered(offerer);
  await answerer.setRemoteDescription(offerer.localDescription!);
  disableDefaultStun(answerer);
  await answerer.setLocalDescription(await answerer.createAnswer());
  const sooner = startDtlsClientSooner(answerer, delayMs);
  await waitIceGathered(answerer);
  await offerer.setRemoteDescription(answerer.localDescription!);
  return { answerer, offerer, startedBy: sooner.startedBy };
}

describe("startDtlsClientSooner (werift answerer as DTLS client)", () => {
  it("answers setup:active, starts the handshake from its own timer, and werift's later call gets the same handshake", async () => {
    const { answerer, offerer, startedBy } = await pair(10);
    expect(answerer.localDescription!.sdp).toMatch(/a=setup:active/);
    await Promise.all([waitConnected(answerer, CONNECT_TIMEOUT_MS), waitConnected(offerer, CONNECT_TIMEOUT_MS)]);
    expect(startedBy()).toEqual(["sooner"]);
    const client = (dtlsTransports(answerer)[0] as unknown as { dtls: { connect(): Promise<void> } }).dtls;
    // The hooked connect hands back the one handshake: werift's call at 100 ms starts no other.
    expect(client.connect()).toBe(client.connect());
  });

  it("with no delay, still connects (a werift peer not yet listening gets werift's resend)", async () => {
    const { answerer, offerer, startedBy } = await pair(0);
    await Promise.all([waitConnected(answerer, CONNECT_TIMEOUT_MS), waitConnected(offerer, CONNECT_TIMEOUT_MS)]);
    expect(startedBy()).toEqual(["sooner"]);
  });

  it("at 100 ms or more leaves werift's own timing and its own connect", async () => {
    const { answerer, offerer, startedBy } = await pair(100);
    await Promise.all([waitConnected(answerer, CONNECT_TIMEOUT_MS), waitConnected(offerer, CONNECT_TIMEOUT_MS)]);
    expect(startedBy()).toEqual([]);
    const client = (dtlsTransports(answerer)[0] as unknown as { dtls: { connect(): Promise<void> } }).dtls;
    expect(Object.prototype.hasOwnProperty.call(client, "connect")).toBe(false);
  });

  it("the offerer (DTLS server) is left alone", async () => {
    const { offerer } = await pair(10);
    const sooner = startDtlsClientSooner(offerer, 10);
    await waitConnected(offerer, CONNECT_TIMEOUT_MS);
    expect(sooner.startedBy()).toEqual([undefined]);
  });
});
