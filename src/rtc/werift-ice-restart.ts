import type { RTCPeerConnection } from "werift";
import { dtlsTransports, iceConnections, type WeriftCandidatePair, type WeriftIceConnection } from "./werift-internals.js";

/**
 * ICE restart without a silent gap (RFC 8445 §9: "the agent MUST keep using the previously
 * selected pair ... until ICE for the new generation has completed").
 *
 * werift 0.25.2's Connection.restart() clears `nominated` and stops consent at once, and its
 * send() drops everything while no pair is nominated: after a restart PATCH the server sent no
 * RTCP (REMB, receiver reports, PLI) to a publisher and no media to a viewer until the client
 * completed the restart, or ever if it did not. Until werift fixes it (docs/upstream/
 * werift-ice-restart.md), send() is wrapped per connection: while the new generation has no
 * usable pair, data goes out on the pair selected before the restart. Receiving needs no change
 * (werift hands data from every socket of the agent up, whatever the pair).
 *
 * A second werift 0.25.2 defect: RTCPeerConnection.connect() returns early when DTLS is already
 * connected, so after a restart nobody runs the new generation's connectivity checks. The agent
 * answers the peer's checks but never selects a pair (incoming checks wait in `earlyChecks`
 * until a connect() that never comes). startRestartedChecks() runs them.
 */

interface HoldState {
  held: WeriftCandidatePair | undefined;
}

const holds = new WeakMap<WeriftIceConnection, HoldState>();

function install(conn: WeriftIceConnection): HoldState {
  const state: HoldState = { held: undefined };
  const send = conn.send;
  conn.send = async (data: Buffer): Promise<void> => {
    const held = state.held;
    if (held === undefined) return send(data);
    if (conn.canSendApplicationData()) {
      // The new generation's pair is selected and has consent: the old one is done.
      state.held = undefined;
      return send(data);
    }
    if (conn.state === "closed" || conn.state === "failed") {
      state.held = undefined;
      return;
    }
    await held.protocol.sendData(data, held.remoteAddr);
    held.packetsSent++;
    held.bytesSent += data.length;
  };
  conn.stateChanged.subscribe((s) => {
    if (s === "closed" || s === "failed") state.held = undefined;
  });
  holds.set(conn, state);
  return state;
}

/**
 * Keeps each transport's selected pair for sending across the restart that follows (call it
 * just before applying the offer with new ICE credentials). Returns how many pairs are held.
 */
export function holdSelectedPairs(pc: RTCPeerConnection): number {
  let n = 0;
  for (const conn of iceConnections(pc)) {
    const selected = conn.nominated;
    if (!selected) continue;
    (holds.get(conn) ?? install(conn)).held = selected;
    n++;
  }
  return n;
}

/**
 * Runs the connectivity checks of a restarted generation on every transport whose DTLS session
 * survives the restart (call after the new local description is set and gathered). A failure
 * surfaces as werift's ICE state "failed", which ends the session as any ICE failure does.
 */
export function startRestartedChecks(pc: RTCPeerConnection): void {
  for (const d of dtlsTransports(pc)) {
    const ice = d.iceTransport;
    if (d.state !== "connected") continue; // before DTLS is up, werift's own connect() does it
    if (ice.state !== "new" && ice.state !== "completed") continue; // running, done, or closed
    void ice.start().catch(() => undefined);
  }
}

/** True while some transport of the peer still sends on a pair from before a restart. */
export function isHoldingOldPair(pc: RTCPeerConnection): boolean {
  return iceConnections(pc).some((c) => holds.get(c)?.held !== undefined && !c.canSendApplicationData());
}

/** True once every transport has a usable pair of the current ICE generation. */
export function restartCompleted(pc: RTCPeerConnection): boolean {
  const conns = iceConnections(pc);
  return conns.length > 0 && conns.every((c) => c.canSendApplicationData());
}

export interface RestartWatch {
  /** Stops watching (the session ended). */
  cancel(): void;
}

/**
 * Calls onTimeout if the restart has not completed (every transport with a new selected pair)
 * within timeoutMs. Completion is learnt from the agents' state events, not by polling.
 */
export function watchRestart(pc: RTCPeerConnection, timeoutMs: number, onTimeout: () => void): RestartWatch {
  const subs: { unSubscribe(): void }[] = [];
  const cancel = (): void => {
    clearTimeout(timer);
    for (const s of subs.splice(0)) s.unSubscribe();
  };
  const timer = setTimeout(() => {
    cancel();
    if (!restartCompleted(pc)) onTimeout();
  }, timeoutMs);
  timer.unref();
  for (const conn of iceConnections(pc)) {
    subs.push(conn.stateChanged.subscribe((s) => {
      if (s === "closed" || s === "failed") cancel();
      else if (s === "connected" && restartCompleted(pc)) {
        for (const c of iceConnections(pc)) {
          const h = holds.get(c);
          if (h) h.held = undefined;
        }
        cancel();
      }
    }));
  }
  return { cancel };
}
