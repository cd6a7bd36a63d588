import { getHostAddresses, type RTCPeerConnection, type RTCRtpTransceiver } from "werift";
import type { PeerOptions } from "./peer-options.js";
import type { Config } from "../config.js";
import { invalidSdp } from "./sdp-offer.js";
import { orderDtlsHandshakes } from "./werift-dtls-order.js";
import { startDtlsClientSooner } from "./werift-dtls-start.js";
import { sizePeerRecvBuffers } from "./socket-buffer.js";
import { holdSelectedPairs, startRestartedChecks, watchRestart, type RestartWatch } from "./werift-ice-restart.js";

// Kept apart (no werift import) so the composition builds them before werift is loaded.
export { peerOptionsFrom, type PeerOptions } from "./peer-options.js";

interface IceConnectionLike {
  stunServer?: unknown;
}

/**
 * werift's ICE agent falls back to a public STUN server when none is configured
 * (ice/src/ice.js: DEFAULT_STUN_SERVER), costing a DNS lookup and a timeout per
 * PeerConnection on a closed network. Clear it on every transport before gathering starts.
 */
export function disableDefaultStun(pc: RTCPeerConnection): void {
  for (const t of pc.getTransceivers()) {
    const connection = (t.dtlsTransport?.iceTransport as unknown as { connection?: IceConnectionLike } | undefined)?.connection;
    if (connection) connection.stunServer = undefined;
  }
}

/**
 * UDP ports one session takes from IFC_RTC_PORT_MIN..MAX: werift binds one socket per host
 * address it gathers on (each interface, and each advertised public IP gets its own socket, so a
 * 1:1 NAT forwards every advertised port). No single muxed port is possible with werift.
 */
export function icePortsPerSession(cfg: Config): number {
  const local = cfg.rtcInterfaceAddress ? 1 : Math.max(1, getHostAddresses(true, cfg.rtcIpv6).length);
  return local + cfg.rtcPublicIps.length;
}

/** Resolves once ICE gathering is complete (WHIP answers and offers carry all candidates). */
export async function waitIceGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        sub.unSubscribe();
        resolve();
      }
    });
  });
}

/**
 * Answers an offer on a fresh peer, as WHIP and WHEP both do: remote description, our
 * directions, answer, and full ICE gathering (the answer carries every candidate; no trickle
 * from our side). Returns the answer SDP.
 */
export async function answerOffer(pc: RTCPeerConnection, offerSdp: string, peer: PeerOptions, setDirections: (transceivers: RTCRtpTransceiver[]) => void): Promise<string> {
  try {
    await pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
  } catch (err) {
    // The offer passed our parser, so werift refusing it is still the client's input (400).
    throw invalidSdp(`the offer was refused: ${err instanceof Error ? err.message.slice(0, 120) : String(err)}`);
  }
  if (!peer.hasStun) disableDefaultStun(pc);
  setDirections(pc.getTransceivers());
  await pc.setLocalDescription(await pc.createAnswer());
  // Before ICE can connect (the client has no answer yet), so the gate is in place for the first record.
  orderDtlsHandshakes(pc);
  startDtlsClientSooner(pc, peer.dtlsStartDelayMs);
  await waitIceGathered(pc);
  // Sockets exist once gathering is done; nothing has been received on them yet.
  sizePeerRecvBuffers(pc, peer.recvBufferBytes, peer.warn);
  return pc.localDescription?.sdp ?? "";
}

export interface RestartOptions {
  /** The restart must complete (a new pair selected) within this, or onTimeout is called. */
  timeoutMs: number;
  onTimeout: () => void;
}

const restartWatches = new WeakMap<RTCPeerConnection, RestartWatch>();

/**
 * ICE restart (RFC 9725 §4.4.1): the original offer with the client's new credentials is
 * answered again, and the candidates it trickled with the restart are added. Returns the new answer.
 * Media and RTCP keep flowing on the current pair until the new one is selected (RFC 8445 §9,
 * see werift-ice-restart.ts); a restart not completed within `restart.timeoutMs` calls
 * `restart.onTimeout` (the session ends). A later restart replaces the earlier one's watch.
 */
export async function restartIceWith(pc: RTCPeerConnection, offerSdp: string, ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], restart: RestartOptions): Promise<string> {
  // Replacer functions: a replacement string would expand `$'`, `$&`... found in client input.
  // The offer's candidates belong to the old generation: the new ones come with the PATCH (or
  // are learnt from the peer's checks). werift refuses to select a pair whose remote candidate
  // names another generation than its own count, which a client's numbering need not match: the
  // ufrag already tells generations apart, so the attribute is dropped.
  const renewed = offerSdp
    .replace(/a=ice-ufrag:.*/g, () => `a=ice-ufrag:${ufrag}`)
    .replace(/a=ice-pwd:.*/g, () => `a=ice-pwd:${pwd}`)
    .replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, "");
  // No pc.restartIce(): as answerer, the offer's new credentials restart the agent (werift's
  // setRemoteParams); restartIce() would only mark a restart for our next own offer.
  holdSelectedPairs(pc);
  restartWatches.get(pc)?.cancel();
  await pc.setRemoteDescription({ type: "offer", sdp: renewed });
  await pc.setLocalDescription(await pc.createAnswer());
  await waitIceGathered(pc);
  for (const c of candidates) await pc.addIceCandidate({ ...c, candidate: c.candidate.replace(/ generation \d+/, "") });
  startRestartedChecks(pc);
  restartWatches.set(pc, watchRestart(pc, restart.timeoutMs, restart.onTimeout));
  return pc.localDescription?.sdp ?? "";
}
