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
  /** A new candidate pair was nominated (epoch ms). */
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

/** What of werift's RTCIceTransport this helper drives (not in its public types). */
interface IceTransportLike {
  state: string;
  start(): Promise<void>;
  connection: { nominated?: unknown; remoteUsername?: string };
}

function iceTransportsOf(pub: WhipPublication): IceTransportLike[] {
  const set = new Set<IceTransportLike>();
  for (const tr of pub.pc.getTransceivers()) {
    const t = tr.dtlsTransport?.iceTransport as unknown as IceTransportLike | undefined;
    if (t) set.add(t);
  }
  return [...set];
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

/**
 * A client-side ICE restart on a WHIP session (RFC 9725 §4.4.1): werift `restartIce()`, a new
 * offer with new credentials, its candidates gathered, then PATCH with a trickle-ice-sdpfrag;
 * the server's new credentials and candidates are applied as the new answer. Resolves once a
 * new candidate pair is nominated.
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
  await pc.setRemoteDescription({ type: "answer", sdp: opts.transformAnswer ? opts.transformAnswer(answerSdp) : answerSdp });
  // werift's offerer starts ICE again only when DTLS is not connected (peerConnection.connect()),
  // and after restart() its transport reports "completed" before any check: DTLS still counts as
  // connected after a cut, so the checks are started here whatever the state says.
  const serverUfrag = ufragOf(answerSdp);
  const transports = iceTransportsOf(pub);
  for (const t of transports) void t.start().catch(() => undefined);
  await waitFor(() => transports.every((t) => t.connection.nominated !== undefined && t.connection.remoteUsername === serverUfrag), {
    timeoutMs: opts.connectTimeoutMs ?? 15_000,
    intervalMs: 10,
    what: "a candidate pair nominated after the ICE restart",
  });
  const connectedAt = Date.now();
  return { etag: res.headers.get("etag"), answerSdp, patchSentAt, connectedAt };
}
