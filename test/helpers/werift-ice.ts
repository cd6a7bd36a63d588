import type { RTCIceServer, RTCPeerConnection } from "werift";

interface IceConnectionLike {
  stunServer?: unknown;
}

/** Whether a list of ICE servers names a STUN server (werift only uses the first one). */
export function hasStunServer(iceServers: RTCIceServer[] | undefined): boolean {
  return (iceServers ?? []).some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^stuns?:/i.test(u)));
}

/**
 * werift asks a public STUN server even with `iceServers: []`: ice/src/ice.js
 * (`applyStunTurnServersFromOptions`) sets `stunServer = options.stunServer ?? DEFAULT_STUN_SERVER`
 * (stun.l.google.com:19302), so every gathering does a DNS lookup of that name (ENOTFOUND, or a
 * resolver timeout, on a closed network). No configuration turns it off; clearing the field on
 * each ICE connection after the transports exist (createOffer / setRemoteDescription) and before
 * gathering starts (setLocalDescription) does.
 */
export function disableDefaultStun(pc: RTCPeerConnection): void {
  for (const t of pc.getTransceivers()) {
    const connection = (t.dtlsTransport?.iceTransport as unknown as { connection?: IceConnectionLike } | undefined)?.connection;
    if (connection) connection.stunServer = undefined;
  }
}

/** The STUN servers werift's ICE connections would query (for tests: should be empty). */
export function stunServersInUse(pc: RTCPeerConnection): unknown[] {
  return pc
    .getTransceivers()
    .map((t) => (t.dtlsTransport?.iceTransport as unknown as { connection?: IceConnectionLike } | undefined)?.connection?.stunServer)
    .filter((s) => s !== undefined);
}

/** Resolves once ICE gathering is complete (non-trickle WHIP: offers and answers carry all candidates). */
export async function waitIceGathered(pc: RTCPeerConnection, timeoutMs = 10_000): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`ICE gathering not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
    // it may have completed between the check above and the subscription
    if (pc.iceGatheringState === "complete") {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/** Resolves once the PeerConnection is connected; rejects on failed/closed or after timeoutMs. */
export function waitConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`PeerConnection not connected within ${timeoutMs} ms (state ${pc.connectionState}, ICE ${pc.iceConnectionState})`));
    }, timeoutMs);
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      } else if (s === "failed" || s === "closed") {
        clearTimeout(timer);
        sub.unSubscribe();
        reject(new Error(`PeerConnection ${s} before connecting`));
      }
    });
  });
}
