/**
 * Browser-side code the publish and watch pages share (inlined: the pages need no build step
 * and no extra request): wait for every ICE candidate, then POST the offer to WHIP or WHEP.
 */
export const OFFER_EXCHANGE_JS = `
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((r) => pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && r()));
}

// POSTs the gathered offer; the session URL comes back apart from the answer, so a caller can
// keep it (to DELETE later) even when applying the answer fails.
async function postOffer(endpoint, pc) {
  const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/sdp" }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(endpoint + " " + res.status + ": " + body.slice(0, 300));
  return { resourceUrl: new URL(res.headers.get("location"), location.href).toString(), answer: body };
}
`;
