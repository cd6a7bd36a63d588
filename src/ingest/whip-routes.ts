import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BadRequestError, PreconditionFailedError, UnsupportedMediaTypeError } from "../errors.js";
import type { WhipIngest } from "./whip-ingest.js";
import { contentTypeIs, parseSdpFrag, SDP, SDPFRAG, toSdpFrag } from "../rtc/sdp-frag.js";

export interface WhipRoutesOptions {
  ingest: WhipIngest;
  /** RFC 9725 §4.6: ICE servers offered to clients, already formatted as Link header values. */
  iceLinks: string[];
  /** IFC_PUBLIC_URL: the base that makes `Location` absolute; empty keeps it relative. */
  publicUrl?: string;
}

type StreamParams = { stream: string };
type SessionParams = { stream: string; session: string };


/** WHIP (RFC 9725): POST an offer to create a session, PATCH it for trickle ICE, DELETE to end. */
export async function whipRoutes(app: FastifyInstance, opts: WhipRoutesOptions): Promise<void> {
  const { ingest, iceLinks, publicUrl = "" } = opts;

  const withIceLinks = (reply: FastifyReply): FastifyReply => (iceLinks.length > 0 ? reply.header("link", iceLinks) : reply);

  app.options<{ Params: StreamParams }>("/whip/:stream", async (_req, reply) => {
    withIceLinks(reply)
      .header("accept-post", SDP)
      .header("allow", "OPTIONS, POST")
      .code(204)
      .send();
  });

  // Content types are checked in onRequest, before any body parser (JSON's would answer 400).
  const requireSdp = async (req: FastifyRequest): Promise<void> => {
    if (!contentTypeIs(req, SDP)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDP);
  };
  const requireSessionAndSdpFrag = async (req: FastifyRequest<{ Params: SessionParams }>): Promise<void> => {
    ingest.get(req.params.stream, req.params.session);
    if (!contentTypeIs(req, SDPFRAG)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDPFRAG);
  };

  app.post<{ Params: StreamParams; Body: string }>("/whip/:stream", { onRequest: requireSdp }, async (req, reply) => {
    if (typeof req.body !== "string" || req.body.length === 0) throw new BadRequestError("empty offer", "invalid-sdp");
    const { session, answer } = await ingest.publish(req.params.stream, req.body);
    const location = `${publicUrl}/whip/${encodeURIComponent(req.params.stream)}/sessions/${session.id}`;
    withIceLinks(reply)
      .code(201)
      .header("location", location)
      .header("etag", session.etag)
      .header("content-type", SDP)
      .send(answer);
  });

  app.patch<{ Params: SessionParams; Body: string }>("/whip/:stream/sessions/:session", { onRequest: requireSessionAndSdpFrag }, async (req, reply) => {
    const session = ingest.get(req.params.stream, req.params.session);
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== session.etag) {
      throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the session's ETag ${session.etag}`);
    }
    const frag = parseSdpFrag(typeof req.body === "string" ? req.body : "");
    const answer = await ingest.patch(req.params.stream, req.params.session, frag);
    if (answer === undefined) return reply.code(204).send();
    // ICE restart: our new credentials and candidates, as an sdpfrag (RFC 9725 §4.4.2).
    return reply.code(200).header("content-type", SDPFRAG).header("etag", session.etag).send(toSdpFrag(answer));
  });

  app.delete<{ Params: SessionParams }>("/whip/:stream/sessions/:session", async (req, reply) => {
    await ingest.delete(req.params.stream, req.params.session);
    return reply.code(200).send();
  });
}

/** RFC 9725 §4.6 Link header values for the configured STUN/TURN servers. */
export function iceServerLinks(urls: string[], username: string, credential: string): string[] {
  return urls.map((url) =>
    url.startsWith("turn")
      ? `<${url}>; rel="ice-server"; username="${username}"; credential="${credential}"; credential-type="password"`
      : `<${url}>; rel="ice-server"`,
  );
}
