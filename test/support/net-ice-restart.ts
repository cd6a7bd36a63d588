import type { WhipPublication } from "../helpers/whip-client.js";
import { disableDefaultStun } from "../helpers/werift-ice.js";
import { waitFor } from "./wait-for.js";

export interface IceRestartOptions {
  /** Request headers (e.g. Authorization) for the PATCH. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** The ETag to send in If-Match (default: the publication's, or the last restart's). */
  etag?: string | null;
  /** Rewrites the rebuilt answer before it is applied (NetRelay.routeAnswer). */
  transformAnswer?: (sdp: string) => string;
  /** How long to wait for `connected` again (default 15 s). */
  connectTimeoutMs?: number;
}

export interface IceRestartResult {
  /** The session's new ETag. */
  etag: string | null;
  /** The answer rebuilt from the first one with the server's new ICE credentials and candidates. */
  answerSdp: string;
  patchSentAt: number;
  /** ICE connected again (epoch ms). */
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
 * an sdpfrag (the server's reply to a restart PATCH; it names its candidates once per mid, and
 * with BUNDLE one transport carries everything, so the first section's apply to all).
 */
export function applyFragToAnswer(answer: string, frag: string): string {
  const ufrag = ufragOf(frag);
  const pwd = pwdOf(frag);
  if (!ufrag || !pwd) throw new Error("sdpfrag without ice-ufrag/ice-pwd");
  const fragLines = frag.split(/\r?\n/);
  const firstMid = fragLines.findIndex((l) => l.startsWith("a=mid:"));
  const cands: string[] = [];
  for (const l of fragLines.slice(Math.max(0, firstMid))) {
    if (l.startsWith("a=mid:") && cands.length > 0) break;
    if (l.startsWith("a=candidate:")) cands.push(l);
  }
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

/**
 * A client-side ICE restart on a WHIP session (RFC 9725 §4.4.1): werift `restartIce()`, a new
 * offer with new credentials, its candidates gathered, then PATCH with a trickle-ice-sdpfrag;
 * the server's new credentials and candidates are applied as the new answer. Resolves once ICE
 * is connected again.
 */
export async function restartIceByPatch(pub: WhipPublication, opts: IceRestartOptions = {}): Promise<IceRestartResult> {
  const pc = pub.pc;
  const oldUfrag = ufragOf(pc.localDescription?.sdp ?? "");
  pc.restartIce();
  const offer = await pc.createOffer();
  disableDefaultStun(pc);
  await pc.setLocalDescription(offer);
  const newUfrag = ufragOf(offer.sdp);
  if (!newUfrag || newUfrag === oldUfrag) throw new Error("restartIce did not change the ICE credentials");
  // gathering for the new credentials: done when the description names candidates for them
  await waitFor(() => pc.iceGatheringState === "complete" && ufragOf(pc.localDescription?.sdp ?? "") === newUfrag && /a=candidate:/.test(pc.localDescription?.sdp ?? ""), {
    timeoutMs: 10_000,
    what: "ICE gathering after the restart",
  });
  const local = pc.localDescription?.sdp ?? "";
  const firstSection = local.split(/\r?\nm=/)[1] ?? "";
  const mid = /a=mid:(\S+)/.exec(firstSection)?.[1] ?? "0";
  const cands = firstSection.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
  const frag = [`a=ice-ufrag:${newUfrag}`, `a=ice-pwd:${pwdOf(local) ?? ""}`, `a=mid:${mid}`, ...cands, "a=end-of-candidates", ""].join("\r\n");
  const doFetch = opts.fetch ?? fetch;
  const etag = opts.etag === undefined ? pub.etag : opts.etag;
  const patchSentAt = Date.now();
  const res = await doFetch(pub.resourceUrl, {
    method: "PATCH",
    headers: { ...opts.headers, "content-type": "application/trickle-ice-sdpfrag", ...(etag ? { "if-match": etag } : {}) },
    body: frag,
  });
  const body = await res.text();
  if (res.status !== 200) throw new IcePatchError(res.status, body);
  const answerSdp = applyFragToAnswer(pub.answerSdp, body);
  const connected = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`ICE not connected again within ${opts.connectTimeoutMs ?? 15_000} ms of the restart`));
    }, opts.connectTimeoutMs ?? 15_000);
    const sub = pc.iceConnectionStateChange.subscribe((st) => {
      if (st === "connected" || st === "completed") {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve(Date.now());
      } else if (st === "failed" || st === "closed") {
        clearTimeout(timer);
        sub.unSubscribe();
        reject(new Error(`ICE ${st} after the restart`));
      }
    });
  });
  connected.catch(() => undefined);
  await pc.setRemoteDescription({ type: "answer", sdp: opts.transformAnswer ? opts.transformAnswer(answerSdp) : answerSdp });
  const connectedAt = await connected;
  return { etag: res.headers.get("etag"), answerSdp, patchSentAt, connectedAt };
}
