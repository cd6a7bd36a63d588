import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { NotFound } from "../core/errors.js";
import { BadRequestError, PreconditionFailedError, ProblemError, UnsupportedMediaTypeError } from "../errors.js";
import type { PendingSessions } from "../rtc/pending-sessions.js";
import { contentTypeIs, parseSdpFrag, SDP, SDPFRAG, toSdpFrag, type SdpFrag } from "../rtc/sdp-frag.js";
import type { RouteAuth } from "./auth/principal.js";
import { forwardToOwner, mayForward } from "./forward-to-owner.js";
import { publisherIdentity } from "./publisher-identity.js";
import { binary, empty, problems, SessionParams, StreamParams } from "./schemas.js";

/** What the routes need of a session. */
export interface WebRtcSession {
  readonly id: string;
  readonly etag: string;
  readonly isEnded: boolean;
  onConnected(l: () => void): void;
  onEnd(l: () => void): void;
}

/** What the routes need of WHIP ingest or WHEP egress. */
export interface WebRtcSessionService<S extends WebRtcSession> {
  /**
   * Answers an offer for `stream` (publish or watch). `identity` names the caller's credentials
   * (publisherIdentity): WHIP lets the same identity resume or take over its stream.
   */
  create(stream: string, offerSdp: string, identity: string): Promise<{ session: S; answer: string }>;
  get(stream: string, sessionId: string): S;
  patch(stream: string, sessionId: string, frag: SdpFrag): Promise<string | undefined>;
  delete(stream: string, sessionId: string): Promise<void>;
}

export interface WebRtcSessionRoutesOptions<S extends WebRtcSession> {
  /** Path prefix and name: `whip` (RFC 9725) or `whep` (draft-ietf-wish-whep). */
  protocol: "whip" | "whep";
  service: WebRtcSessionService<S>;
  /** What every route of the protocol needs (stream:publish, or stream:view with view tokens). */
  auth: RouteAuth;
  /** RFC 9725 §4.6: ICE servers offered to clients, already formatted as Link header values. */
  iceLinks: string[];
  /** IFC_PUBLIC_URL: the base that makes `Location` absolute; empty keeps it relative. */
  publicUrl?: string;
  /** Unconnected sessions per client address (shared by WHIP and WHEP); unset: no limit. */
  pending?: PendingSessions;
  /** Seconds a client refused for too many pending sessions is told to wait (about the connect timeout). */
  pendingRetryAfterS?: number;
  /** WHEP answers `Accept-Patch` on creation (it supports trickle and ICE restarts by PATCH). */
  acceptPatchOnCreate?: boolean;
  /** In a cluster: the base URL of the node that owns `stream` when it is not this one, else undefined. */
  ownerElsewhere?: (stream: string) => Promise<string | undefined>;
  /** Whether a POST for a stream owned elsewhere is redirected there (WHEP: 307); WHIP claims through the cluster instead. */
  redirectCreate?: boolean;
}


const SDP_BODY = Type.String({ description: "An SDP offer (application/sdp)" });
const SDPFRAG_BODY = Type.String({ description: "A trickle-ice-sdpfrag (RFC 8840)" });

/**
 * The session resources of WHIP and WHEP, from one factory (they differ only in direction):
 * `OPTIONS`/`POST /{protocol}/{stream}` (an offer → 201 with the answer and the session's
 * `Location`), `PATCH` (trickle ICE or ICE restart) and `DELETE` on
 * `/{protocol}/{stream}/sessions/{session}`. A session is only reachable under its own stream.
 */
export async function webRtcSessionRoutes<S extends WebRtcSession>(fastify: FastifyInstance, opts: WebRtcSessionRoutesOptions<S>): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { protocol, service, iceLinks, publicUrl = "", auth, pending } = opts;
  const label = protocol.toUpperCase();
  const tags = [protocol];
  const withIceLinks = (reply: FastifyReply): FastifyReply => (iceLinks.length > 0 ? reply.header("link", iceLinks) : reply);

  // Content types are checked in onRequest, before any body parser (JSON's would answer 400).
  const requireSdp = async (req: FastifyRequest): Promise<void> => {
    if (!contentTypeIs(req, SDP)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDP);
  };
  const requireSessionAndSdpFrag = async (req: FastifyRequest): Promise<void> => {
    const { stream, session } = req.params as { stream: string; session: string };
    service.get(stream, session);
    if (!contentTypeIs(req, SDPFRAG)) throw new UnsupportedMediaTypeError(req.headers["content-type"], SDPFRAG);
  };

  app.options(
    `/${protocol}/:stream`,
    {
      config: { auth },
      schema: {
        tags, summary: `${label} capabilities (Accept-Post, ICE servers as Link headers)`,
        params: StreamParams,
        response: { 204: empty("Allowed methods, Accept-Post and ICE server links"), ...problems(400) },
      },
    },
    async (_req, reply) => {
      withIceLinks(reply).header("accept-post", SDP).header("allow", "OPTIONS, POST").code(204).send();
    },
  );

  app.post(
    `/${protocol}/:stream`,
    {
      config: { auth },
      onRequest: requireSdp,
      schema: {
        tags, summary: protocol === "whip" ? "Publish: POST an SDP offer" : "Watch: POST a recvonly SDP offer",
        consumes: [SDP],
        params: StreamParams,
        body: SDP_BODY,
        response: { 201: binary("The SDP answer; Location names the session resource", SDP), 307: empty("WHEP in a cluster: the stream is on another node, at Location"), ...problems(400, 404, 406, 409, 413, 415, 429, 503) },
      },
    },
    async (req, reply) => {
      if (typeof req.body !== "string" || req.body.length === 0) throw new BadRequestError("empty offer", "invalid-sdp");
      if (opts.redirectCreate) {
        // Another node has the stream: the viewer connects there (307 keeps method and body).
        const owner = await opts.ownerElsewhere?.(req.params.stream);
        if (owner) return reply.code(307).header("location", `${owner}${req.url}`).send();
      }
      const release = claimPending(req.ip);
      let created: { session: S; answer: string };
      try {
        created = await service.create(req.params.stream, req.body, publisherIdentity(req.principal));
      } catch (err) {
        release?.();
        throw err;
      }
      const { session, answer } = created;
      if (release) {
        // Freed on connect, on failure and on the connect timeout (which ends the session).
        session.onConnected(release);
        session.onEnd(release);
        if (session.isEnded) release();
      }
      withIceLinks(reply)
        .code(201)
        .header("location", `${publicUrl}/${protocol}/${encodeURIComponent(req.params.stream)}/sessions/${session.id}`)
        .header("etag", session.etag);
      if (opts.acceptPatchOnCreate) reply.header("accept-patch", SDPFRAG);
      return reply.header("content-type", SDP).send(answer);
    },
  );

  app.patch(
    `/${protocol}/:stream/sessions/:session`,
    {
      config: { auth },
      onRequest: requireSessionAndSdpFrag,
      schema: {
        tags, summary: "Trickle ICE candidates, or restart ICE (new credentials → 200 with ours)",
        consumes: [SDPFRAG],
        params: SessionParams,
        body: SDPFRAG_BODY,
        response: { 200: binary("ICE restart: our new credentials and candidates", SDPFRAG), 204: empty("Candidates applied"), ...problems(400, 404, 412, 413, 415) },
      },
    },
    async (req, reply) => {
      const session = service.get(req.params.stream, req.params.session);
      const ifMatch = req.headers["if-match"];
      if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== session.etag) {
        throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the session's ETag ${session.etag}`);
      }
      const answer = await service.patch(req.params.stream, req.params.session, parseSdpFrag(typeof req.body === "string" ? req.body : ""));
      if (answer === undefined) return reply.code(204).send();
      // ICE restart: our new credentials and candidates, as an sdpfrag (RFC 9725 §4.4.2).
      return reply.code(200).header("content-type", SDPFRAG).header("etag", session.etag).send(toSdpFrag(answer));
    },
  );

  app.delete(
    `/${protocol}/:stream/sessions/:session`,
    {
      config: { auth },
      schema: {
        tags, summary: `End the ${label} session`,
        params: SessionParams,
        response: { 200: empty("Session ended"), ...problems(404) },
      },
    },
    async (req, reply) => {
      try {
        await service.delete(req.params.stream, req.params.session);
      } catch (err) {
        // The session lives on the node that owns the stream (a load balancer sent the DELETE here): pass it on.
        const owner = isNotFound(err) && mayForward(req) ? await opts.ownerElsewhere?.(req.params.stream) : undefined;
        if (!owner) throw err;
        return forwardToOwner(req, reply as FastifyReply, owner);
      }
      return reply.code(200).send();
    },
  );

  function claimPending(client: string): (() => void) | undefined {
    if (!pending) return undefined;
    const release = pending.tryClaim(client);
    if (!release) {
      const retry = String(opts.pendingRetryAfterS ?? 5);
      throw new ProblemError(
        429, "too-many-pending-sessions", "Too many requests",
        `this client already holds ${pending.maxPerClient} WebRTC sessions that have not connected (IFC_RTC_MAX_PENDING_PER_CLIENT)`,
        { limit: pending.maxPerClient }, { "retry-after": retry },
      );
    }
    return release;
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof NotFound || (err instanceof ProblemError && err.status === 404);
}

/** RFC 9725 §4.6 Link header values for the configured STUN/TURN servers. */
export function iceServerLinks(urls: string[], username: string, credential: string): string[] {
  return urls.map((url) =>
    url.startsWith("turn")
      ? `<${url}>; rel="ice-server"; username="${username}"; credential="${credential}"; credential-type="password"`
      : `<${url}>; rel="ice-server"`,
  );
}
