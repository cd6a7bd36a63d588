import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BadRequestError, PreconditionFailedError, UnsupportedMediaTypeError } from "../../errors.js";
import { contentTypeIs, parseSdpFrag, SDP, SDPFRAG, toSdpFrag } from "../../rtc/sdp-frag.js";
import type { WhepEgress } from "./whep-egress.js";

export interface WhepRoutesOptions {
  egress: WhepEgress;
  /** RFC 9725 §4.6 Link header values for the configured ICE servers (as WHIP). */
  iceLinks: string[];
  /** IFC_PUBLIC_URL: the base that makes `Location` absolute; empty keeps it relative. */
  publicUrl?: string;
}

type StreamParams = { stream: string };
type SessionParams = { stream: string; session: string };


/** WHEP (draft-ietf-wish-whep): POST a recvonly offer to watch, PATCH for trickle ICE or ICE restart, DELETE to stop. */
export async function whepRoutes(app: FastifyInstance, opts: WhepRoutesOptions): Promise<void> {
  const { egress, iceLinks, publicUrl = "" } = opts;
  const withIceLinks = (reply: FastifyReply): FastifyReply => (iceLinks.length > 0 ? reply.header("link", iceLinks) : reply);

  app.options<{ Params: StreamParams }>("/whep/:stream", async (_req, reply) => {
    withIceLinks(reply).header("accept-post", SDP).header("allow", "OPTIONS, POST").code(204).send();
  });

  // Content types are checked before any body parser runs, as for WHIP.
  const requireSdp = async (req: FastifyRequest): Promise<void> => {
    if (!contentTypeIs(req, SDP)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDP);
  };
  const requireSessionAndSdpFrag = async (req: FastifyRequest<{ Params: SessionParams }>): Promise<void> => {
    egress.get(req.params.stream, req.params.session);
    if (!contentTypeIs(req, SDPFRAG)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDPFRAG);
  };

  app.post<{ Params: StreamParams; Body: string }>("/whep/:stream", { onRequest: requireSdp }, async (req, reply) => {
    if (typeof req.body !== "string" || req.body.length === 0) throw new BadRequestError("empty offer", "invalid-sdp");
    const { session, answer } = await egress.watch(req.params.stream, req.body);
    withIceLinks(reply)
      .code(201)
      .header("location", `${publicUrl}/whep/${encodeURIComponent(req.params.stream)}/sessions/${session.id}`)
      .header("etag", session.etag)
      .header("accept-patch", SDPFRAG)
      .header("content-type", SDP)
      .send(answer);
  });

  app.patch<{ Params: SessionParams; Body: string }>("/whep/:stream/sessions/:session", { onRequest: requireSessionAndSdpFrag }, async (req, reply) => {
    const session = egress.get(req.params.stream, req.params.session);
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== session.etag) {
      throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the session's ETag ${session.etag}`);
    }
    const answer = await egress.patch(req.params.stream, req.params.session, parseSdpFrag(typeof req.body === "string" ? req.body : ""));
    if (answer === undefined) return reply.code(204).send();
    return reply.code(200).header("content-type", SDPFRAG).header("etag", session.etag).send(toSdpFrag(answer));
  });

  app.delete<{ Params: SessionParams }>("/whep/:stream/sessions/:session", async (req, reply) => {
    await egress.delete(req.params.stream, req.params.session);
    return reply.code(200).send();
  });

}

