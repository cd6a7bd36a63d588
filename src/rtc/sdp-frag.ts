import type { FastifyRequest } from "fastify";
import { BadRequestError } from "../errors.js";

/** The media types of WHIP/WHEP bodies. */
export const SDP = "application/sdp";
export const SDPFRAG = "application/trickle-ice-sdpfrag";

/** Whether a request's Content-Type (parameters ignored) is `expected`. */
export function contentTypeIs(req: FastifyRequest, expected: string): boolean {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() === expected;
}

/** Reads ufrag, pwd and candidates from a trickle-ice-sdpfrag body (RFC 8840). */
export function parseSdpFrag(body: string): { ufrag?: string; pwd?: string; candidates: { candidate: string; sdpMid?: string }[] } {
  let ufrag: string | undefined;
  let pwd: string | undefined;
  let mid: string | undefined;
  const candidates: { candidate: string; sdpMid?: string }[] = [];
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("a=ice-ufrag:")) ufrag = line.slice(12);
    else if (line.startsWith("a=ice-pwd:")) pwd = line.slice(10);
    else if (line.startsWith("a=mid:")) mid = line.slice(6);
    else if (line.startsWith("a=candidate:")) candidates.push({ candidate: line.slice(2), ...(mid !== undefined ? { sdpMid: mid } : {}) });
    else if (line.length > 0 && !line.startsWith("a=") && !line.startsWith("m=")) {
      throw new BadRequestError(`unexpected line in sdpfrag: ${line.slice(0, 80)}`, "invalid-sdpfrag");
    }
  }
  return { ...(ufrag ? { ufrag } : {}), ...(pwd ? { pwd } : {}), candidates };
}

/** The ICE parts of an answer, as an sdpfrag. */
export function toSdpFrag(sdp: string): string {
  const keep = sdp.split(/\r?\n/).filter((l) => /^a=(ice-ufrag|ice-pwd|candidate|end-of-candidates|mid|group)/.test(l) || l.startsWith("m="));
  return `${keep.join("\r\n")}\r\n`;
}

export type SdpFrag = ReturnType<typeof parseSdpFrag>;

/** What WHIP and WHEP sessions share for a PATCH: trickled candidates and ICE restarts. */
export interface IcePatchable {
  addRemoteCandidates(candidates: SdpFrag["candidates"]): Promise<void>;
  /** Renegotiates ICE with the remote's new credentials; returns the new answer SDP. */
  restartIce(ufrag: string, pwd: string, candidates: SdpFrag["candidates"], offerSdp: string): Promise<string>;
}

/** The remote ICE state a session resource keeps between PATCHes. */
export interface IceRemote {
  /** The offer the session was answered with (for an ICE restart's renegotiation). */
  offerSdp: string;
  remoteUfrag: string | undefined;
}

export function iceRemoteOf(offerSdp: string): IceRemote {
  return { offerSdp, remoteUfrag: /a=ice-ufrag:(\S+)/.exec(offerSdp)?.[1] };
}

/**
 * Applies a trickle-ice-sdpfrag (RFC 8840) to a session: new credentials mean an ICE restart
 * (returns the answer SDP), otherwise the candidates are added (returns undefined).
 */
export async function applySdpFrag(session: IcePatchable, remote: IceRemote, frag: SdpFrag): Promise<string | undefined> {
  if (frag.ufrag && frag.pwd && frag.ufrag !== remote.remoteUfrag) {
    const answer = await session.restartIce(frag.ufrag, frag.pwd, frag.candidates, remote.offerSdp);
    remote.remoteUfrag = frag.ufrag;
    return answer;
  }
  await session.addRemoteCandidates(frag.candidates);
  return undefined;
}
