import type { RTCPeerConnection } from "werift";
import { holdSelectedPairs, startRestartedChecks } from "../../src/rtc/werift-ice-restart.js";
import { waitIceGathered } from "./werift-ice.js";

export interface ClientRestart {
  status: number;
  etag: string | null;
  /** The server's sdpfrag answer (new ufrag, pwd and candidates). */
  frag: string;
  /** Applies the server's new credentials and candidates: the client completes the restart. */
  complete(): Promise<void>;
}

/**
 * An ICE restart from a werift client over WHIP/WHEP PATCH (RFC 9725 §4.4.2): a new offer with
 * iceRestart, its credentials and candidates PATCHed to the resource. The client keeps its own
 * selected pair until the new one is selected, and runs the new checks (as Chromium does;
 * werift alone would drop the pair and never check), so the test sees what the server does. `complete()` applies the answer; a test that never
 * calls it plays a client that went away mid-restart.
 */
export async function restartIceFromClient(pc: RTCPeerConnection, resourceUrl: string, etag: string | null): Promise<ClientRestart> {
  holdSelectedPairs(pc);
  await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
  await waitIceGathered(pc);
  const local = pc.localDescription?.sdp ?? "";
  const ufrag = /a=ice-ufrag:(\S+)/.exec(local)?.[1];
  const pwd = /a=ice-pwd:(\S+)/.exec(local)?.[1];
  const mid = /a=mid:(\S+)/.exec(local)?.[1] ?? "0";
  const candidates = [...new Set(local.match(/^a=candidate:.*$/gm) ?? [])];
  const body = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, `a=mid:${mid}`, ...candidates, "a=end-of-candidates", ""].join("\r\n");
  const res = await fetch(resourceUrl, {
    method: "PATCH",
    headers: { "content-type": "application/trickle-ice-sdpfrag", ...(etag ? { "if-match": etag } : {}) },
    body,
  });
  const frag = await res.text();
  return {
    status: res.status,
    etag: res.headers.get("etag"),
    frag,
    complete: async () => {
      const newUfrag = /a=ice-ufrag:(\S+)/.exec(frag)?.[1];
      const newPwd = /a=ice-pwd:(\S+)/.exec(frag)?.[1];
      if (!newUfrag || !newPwd) throw new Error(`no credentials in the restart answer: ${frag.slice(0, 200)}`);
      const remoteCandidates = frag.match(/^a=candidate:.*$/gm) ?? [];
      const previous = pc.remoteDescription?.sdp ?? "";
      const sdp = previous
        .replace(/^a=ice-ufrag:.*$/gm, () => `a=ice-ufrag:${newUfrag}`)
        .replace(/^a=ice-pwd:.*$/gm, () => `a=ice-pwd:${newPwd}`)
        .replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, "");
      await pc.setRemoteDescription({ type: "answer", sdp });
      for (const c of remoteCandidates) await pc.addIceCandidate({ candidate: c.slice(2), sdpMid: mid });
      // werift as offerer has the same defect as our answerer (see werift-ice-restart.ts).
      startRestartedChecks(pc);
    },
  };
}
