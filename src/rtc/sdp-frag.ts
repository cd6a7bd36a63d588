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
