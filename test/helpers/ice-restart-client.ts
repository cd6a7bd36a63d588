import type { RTCPeerConnection } from "werift";
import { holdSelectedPairs, restartCompleted, startRestartedChecks } from "../../src/rtc/werift-ice-restart.js";
import { iceConnections } from "../../src/rtc/werift-internals.js";
import { waitFor } from "../support/wait-for.js";
import { disableDefaultStun } from "./werift-ice.js";

/**
 * The one client-side ICE restart of the tests and benches, over a WHIP or WHEP session resource
 * (RFC 9725 §4.4.2), from a werift peer:
 *  1. the selected pair is held (werift's restart would drop it before a new one exists; the
 *     client keeps sending on it as Chromium does, RFC 8445 §9), then a new offer with
 *     iceRestart, its new credentials and candidates gathered;
 *  2. PATCH with a trickle-ice-sdpfrag and the session's ETag;
 *  3. `complete()`: the server's new credentials and candidates applied as the new answer
 *     (optionally rewritten, e.g. NetRelay.routeAnswer), and the restarted checks started
 *     (werift as offerer skips them while DTLS is connected; see src/rtc/werift-ice-restart.ts).
 * `startIceRestart` stops after step 2 so a test can play a client that never completes;
 * `restartIce` does it all and waits for the new pair.
 */

/** A WHIP publication or a WHEP viewer: what a restart needs of a session. */
export interface IceRestartTarget {
  pc: RTCPeerConnection;
  resourceUrl: string;
  etag: string | null;
  /** The answer as the server sent it (before any transformAnswer); default: the remote description. */
  answerSdp?: string;
  /** Credentials of the session (sent with the PATCH too). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export interface IceRestartOptions {
  /** Rewrites the rebuilt answer before it is applied (NetRelay.routeAnswer). */
  transformAnswer?: (sdp: string) => string;
  /** How long `restartIce` waits for a pair of the new generation (default 15 s). */
  connectTimeoutMs?: number;
}

export interface PendingIceRestart {
  status: number;
  /** The session's new ETag. */
  etag: string | null;
  /** The server's sdpfrag answer (new ufrag, pwd and candidates). */
  frag: string;
  patchSentAt: number;
  /** Applies the server's answer and starts the new checks; resolves (with the rebuilt answer) once they are started. */
  complete(): Promise<string>;
}

export interface IceRestartResult {
  etag: string | null;
  /** The answer rebuilt from the session's one with the server's new credentials and candidates. */
  answerSdp: string;
  patchSentAt: number;
  /** A pair of the new generation was selected (epoch ms). */
  connectedAt: number;
}

export class IcePatchError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`ICE restart PATCH failed with ${status}: ${body.slice(0, 300)}`);
  }
}

const ufragOf = (sdp: string): string | undefined => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
const pwdOf = (sdp: string): string | undefined => /a=ice-pwd:(\S+)/.exec(sdp)?.[1];

/**
 * Replaces the ICE credentials and candidates of every media section of `answer` with those of
 * an sdpfrag (the server's reply to a restart PATCH). With BUNDLE one transport carries
 * everything, so the first section's candidates apply to all.
 */
export function applyFragToAnswer(answer: string, frag: string): string {
  const ufrag = ufragOf(frag);
  const pwd = pwdOf(frag);
  if (!ufrag || !pwd) throw new Error("sdpfrag without ice-ufrag/ice-pwd");
  // the first media section's candidates (werift writes them before or after a=mid)
  const sections = frag.split(/\r?\n(?=m=)/);
  const first = sections.length > 1 ? (sections[1] ?? "") : frag;
  const cands = first.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
  const out: string[] = [];
  let inMedia = false;
  for (const l of answer.split(/\r?\n/)) {
    if (l.startsWith("m=")) inMedia = true;
    if (/^a=(candidate|end-of-candidates)/.test(l)) continue;
    if (l.startsWith("a=ice-ufrag:")) out.push(`a=ice-ufrag:${ufrag}`);
    else if (l.startsWith("a=ice-pwd:")) out.push(`a=ice-pwd:${pwd}`);
    else out.push(l);
    // candidates right after each section's mid
    if (inMedia && l.startsWith("a=mid:")) out.push(...cands, "a=end-of-candidates");
  }
  return out.join("\r\n");
}

/** Steps 1 and 2: new credentials, PATCHed. `complete()` does step 3. */
export async function startIceRestart(target: IceRestartTarget, opts: IceRestartOptions = {}): Promise<PendingIceRestart> {
  const { pc } = target;
  const oldUfrag = ufragOf(pc.localDescription?.sdp ?? "");
  // before createOffer: with iceRestart it restarts the agents, which drops the selected pair
  holdSelectedPairs(pc);
  const offer = await pc.createOffer({ iceRestart: true });
  disableDefaultStun(pc); // test peers run without STUN servers
  await pc.setLocalDescription(offer);
  const newUfrag = ufragOf(offer.sdp);
  if (!newUfrag || newUfrag === oldUfrag) throw new Error("the restart offer did not change the ICE credentials");
  // gathering for the new credentials: done when the description names candidates for them
  await waitFor(() => pc.iceGatheringState === "complete" && ufragOf(pc.localDescription?.sdp ?? "") === newUfrag && /a=candidate:/.test(pc.localDescription?.sdp ?? ""), {
    timeoutMs: 10_000,
    what: "ICE gathering after the restart",
  });
  const local = pc.localDescription?.sdp ?? "";
  // bundled: the first media section's candidates carry everything
  const firstSection = local.split(/\r?\nm=/)[1] ?? "";
  const mid = /a=mid:(\S+)/.exec(firstSection)?.[1] ?? "0";
  const cands = firstSection.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
  const body = [`a=ice-ufrag:${newUfrag}`, `a=ice-pwd:${pwdOf(local) ?? ""}`, `a=mid:${mid}`, ...cands, "a=end-of-candidates", ""].join("\r\n");
  const doFetch = target.fetch ?? fetch;
  const patchSentAt = Date.now();
  const res = await doFetch(target.resourceUrl, {
    method: "PATCH",
    headers: { ...target.headers, "content-type": "application/trickle-ice-sdpfrag", ...(target.etag ? { "if-match": target.etag } : {}) },
    body,
  });
  const frag = await res.text();
  return {
    status: res.status,
    etag: res.headers.get("etag"),
    frag,
    patchSentAt,
    complete: async () => {
      const answer = applyFragToAnswer(target.answerSdp ?? pc.remoteDescription?.sdp ?? "", frag);
      await pc.setRemoteDescription({ type: "answer", sdp: opts.transformAnswer ? opts.transformAnswer(answer) : answer });
      startRestartedChecks(pc);
      return answer;
    },
  };
}

/** True once every agent selected a pair against the server's new credentials. */
function restartedAgainst(pc: RTCPeerConnection, serverUfrag: string | undefined): boolean {
  if (!restartCompleted(pc)) return false;
  return iceConnections(pc).every((c) => (c as unknown as { remoteUsername?: string }).remoteUsername === serverUfrag);
}

/**
 * A whole client-side ICE restart: PATCH (a non-200 throws IcePatchError), the answer applied,
 * and resolves once a pair of the new generation is selected. Updates `target.etag` and, when
 * the target keeps one, `target.answerSdp` (a later restart starts from it).
 */
export async function restartIce(target: IceRestartTarget, opts: IceRestartOptions = {}): Promise<IceRestartResult> {
  const pending = await startIceRestart(target, opts);
  if (pending.status !== 200) throw new IcePatchError(pending.status, pending.frag);
  const answerSdp = await pending.complete();
  target.etag = pending.etag ?? target.etag;
  if (target.answerSdp !== undefined) target.answerSdp = answerSdp;
  const serverUfrag = ufragOf(pending.frag);
  await waitFor(() => restartedAgainst(target.pc, serverUfrag), {
    timeoutMs: opts.connectTimeoutMs ?? 15_000,
    intervalMs: 10,
    what: "a candidate pair of the new ICE generation selected",
  });
  return { etag: target.etag, answerSdp, patchSentAt: pending.patchSentAt, connectedAt: Date.now() };
}
