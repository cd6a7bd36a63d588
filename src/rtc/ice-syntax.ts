/**
 * The ICE grammar of SDP (RFC 8839 §5.1, §5.4) checked before anything reaches werift, whose
 * parsers throw plain errors (or accept nonsense) on malformed input: a client's typo must be
 * a 400, never a 500 and never state half-applied to a live session.
 */

/** ice-char = ALPHA / DIGIT / "+" / "/"; ufrag 4..256 and pwd 22..256 of them. */
const UFRAG = /^[A-Za-z0-9+/]{4,256}$/;
const PWD = /^[A-Za-z0-9+/]{22,256}$/;

/**
 * candidate-attribute: foundation, component-id, transport, priority, connection-address, port,
 * "typ" cand-type, then name/value extension pairs (raddr, rport, generation, ufrag, tcptype...).
 */
const CANDIDATE =
  /^candidate:[A-Za-z0-9+/]{1,32} \d{1,3} [A-Za-z]{1,16} \d{1,10} [A-Za-z0-9.:%_-]{1,255} (\d{1,5}) typ [A-Za-z]{1,16}((?: \S{1,255} \S{1,255})*)$/;

/** A media id (RFC 5888 token), kept short: it is echoed in answers and logs. */
const MID = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,32}$/;

export const isIceUfrag = (s: string): boolean => UFRAG.test(s);
export const isIcePwd = (s: string): boolean => PWD.test(s);
export const isMid = (s: string): boolean => MID.test(s);

/** Why a candidate attribute (without its `a=`) is malformed, or undefined when it is fine. */
export function candidateProblem(attr: string): string | undefined {
  const m = CANDIDATE.exec(attr);
  if (!m) return `malformed candidate: ${attr.slice(0, 100)}`;
  if (Number(m[1]) > 65535) return `candidate port out of range: ${attr.slice(0, 100)}`;
  const ext = (m[2] ?? "").trim().split(" ");
  const rport = ext.indexOf("rport");
  const rp = rport >= 0 && rport % 2 === 0 ? (ext[rport + 1] ?? "") : "0";
  if (!/^\d{1,5}$/.test(rp) || Number(rp) > 65535) return `candidate rport is not a port: ${attr.slice(0, 100)}`;
  return undefined;
}
