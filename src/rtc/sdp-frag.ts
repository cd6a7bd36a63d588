import type { FastifyRequest } from "fastify";
import { InvalidInput } from "../core/errors.js";
import { candidateProblem, isIcePwd, isIceUfrag, isMid } from "./ice-syntax.js";

/** The media types of WHIP/WHEP bodies. */
export const SDP = "application/sdp";
export const SDPFRAG = "application/trickle-ice-sdpfrag";

/** Whether a request's Content-Type (parameters ignored) is `expected`. */
export function contentTypeIs(req: FastifyRequest, expected: string): boolean {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() === expected;
}

/**
 * Reads ufrag, pwd and candidates from a trickle-ice-sdpfrag body (RFC 8840). Every ICE line is
 * checked against its grammar and every candidate must follow an `a=mid` (RFC 8840 §4.4): werift
 * throws plain errors on either, which would be a 500 and could leave an ICE restart half done.
 */
export function parseSdpFrag(body: string): { ufrag?: string; pwd?: string; candidates: { candidate: string; sdpMid?: string }[] } {
  let ufrag: string | undefined;
  let pwd: string | undefined;
  let mid: string | undefined;
  const candidates: { candidate: string; sdpMid?: string }[] = [];
  const refuse = (detail: string): never => {
    throw new InvalidInput("invalid-sdpfrag", detail);
  };
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("a=ice-ufrag:")) {
      ufrag = line.slice(12);
      if (!isIceUfrag(ufrag)) refuse("a=ice-ufrag must be 4..256 of [A-Za-z0-9+/]");
    } else if (line.startsWith("a=ice-pwd:")) {
      pwd = line.slice(10);
      if (!isIcePwd(pwd)) refuse("a=ice-pwd must be 22..256 of [A-Za-z0-9+/]");
    } else if (line.startsWith("a=mid:")) {
      mid = line.slice(6);
      if (!isMid(mid)) refuse(`malformed a=mid: ${line.slice(0, 80)}`);
    } else if (line.startsWith("m=")) {
      mid = undefined; // a new section names its own mid
    } else if (line.startsWith("a=candidate:")) {
      const problem = candidateProblem(line.slice(2));
      if (problem) refuse(problem);
      if (mid === undefined) refuse(`candidate without a preceding a=mid: ${line.slice(0, 80)}`);
      candidates.push({ candidate: line.slice(2), ...(mid !== undefined ? { sdpMid: mid } : {}) });
    } else if (line.length > 0 && !line.startsWith("a=")) {
      refuse(`unexpected line in sdpfrag: ${line.slice(0, 80)}`);
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
  /** The offer's media ids: a trickled candidate must name one of them. */
  mids: string[];
}

export function iceRemoteOf(offerSdp: string): IceRemote {
  const mids = [...offerSdp.matchAll(/^a=mid:(\S+)/gm)].map((m) => m[1] as string);
  return { offerSdp, remoteUfrag: /a=ice-ufrag:(\S+)/.exec(offerSdp)?.[1], mids };
}

/**
 * Applies a trickle-ice-sdpfrag (RFC 8840) to a session: new credentials mean an ICE restart
 * (returns the answer SDP), otherwise the candidates are added (returns undefined).
 */
export async function applySdpFrag(session: IcePatchable, remote: IceRemote, frag: SdpFrag): Promise<string | undefined> {
  // Checked before anything is applied: a refused PATCH leaves the session as it was.
  const unknown = frag.candidates.find((c) => c.sdpMid === undefined || !remote.mids.includes(c.sdpMid));
  if (unknown) throw new InvalidInput("invalid-sdpfrag", `candidate names a=mid:${unknown.sdpMid ?? ""}, not a media section of the offer (${remote.mids.join(", ")})`);
  if (frag.ufrag && frag.pwd && frag.ufrag !== remote.remoteUfrag) {
    const answer = await session.restartIce(frag.ufrag, frag.pwd, frag.candidates, remote.offerSdp);
    remote.remoteUfrag = frag.ufrag;
    return answer;
  }
  try {
    await session.addRemoteCandidates(frag.candidates);
  } catch (err) {
    // The candidates passed our grammar, so werift refusing one is still the client's input.
    throw new InvalidInput("invalid-sdpfrag", `a candidate was refused: ${err instanceof Error ? err.message.slice(0, 120) : String(err)}`);
  }
  return undefined;
}
