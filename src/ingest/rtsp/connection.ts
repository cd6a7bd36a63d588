import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { CapacityExceeded, Conflict, DomainError } from "../../core/errors.js";
import { RtpTracksIngest } from "../rtp-track-ingest.js";
import { basicChallenge, parseAuthorization } from "./auth.js";
import { RtspAuthRefused, type RtspAccess, type RtspCredentials } from "./authorizer.js";
import { reasonPhrase, RtspHeaders, RtspWireError, serializeResponse, type RtspRequest } from "./message.js";
import { RtspPublisher } from "./publish-session.js";
import { describeTracks, RtspReader } from "./read-session.js";
import { parseRtspTarget, pathOf, type RtspTarget } from "./rtsp-url.js";
import { buildRtspSdp, parseRtspSdp, resolveControl, SUPPORTED_CODECS } from "./sdp.js";
import type { RtspServerContext } from "./server-context.js";
import { RtspSession, type TcpLink, type TrackTransport } from "./session.js";
import { RtspStatus } from "./status.js";
import { formatTransport, parseTransportHeader, type RtspTransport } from "./transport.js";
import { RtspWireReader } from "./wire-reader.js";

/** Methods this server answers (the `Public` header of OPTIONS and of 501). */
export const PUBLIC_METHODS = "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
const KNOWN = new Set(PUBLIC_METHODS.split(", "));
/** Requests read but not answered yet: a client pipelining more without reading is cut off. */
const MAX_PENDING_REQUESTS = 32;
const MAX_REMEMBERED_AUTHORIZATIONS = 16;

export interface ConnectionCounters {
  requests: number;
  /** Requests answered with a 4xx/5xx status. */
  refused: number;
  /** Interleaved frames on a channel no session of this connection set up. */
  unknownChannel: number;
  /** Interleaved frames that were not RTP/RTCP-sized (empty). */
  badFrames: number;
}

/**
 * One RTSP TCP connection (gortsplib's ServerConn): frames the byte stream, answers requests in
 * order (each may wait on authorization; the next waits for it) and routes interleaved frames
 * to the session that set their channel up, synchronously, whatever request is pending.
 */
export class RtspConnection implements TcpLink {
  readonly counters: ConnectionCounters = { requests: 0, refused: 0, unknownChannel: 0, badFrames: 0 };
  private readonly reader: RtspWireReader;
  /** Interleaved channel → the session and track it carries (RTCP on the odd one of a pair). */
  private readonly channelMap = new Map<number, { session: RtspSession; index: number; rtcp: boolean }>();
  private readonly sessions = new Set<RtspSession>();
  /** Authorizations already given on this connection (stream + access + credentials): no second scrypt per request. */
  private readonly authorized = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private isClosed = false;
  /** close() was called: the end is queued behind the requests already read. */
  private closing = false;
  /** The byte stream could not be framed: the connection closes once the error is answered. */
  private unframed = false;
  readonly clientAddress: string;
  private readonly log: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: RtspServerContext,
    parentLog: Logger,
  ) {
    this.clientAddress = socket.remoteAddress ?? "";
    this.log = parentLog.child({ client: this.clientAddress, clientPort: socket.remotePort });
    this.reader = new RtspWireReader(
      { maxHeaderBytes: ctx.opts.maxHeaderBytes, maxBodyBytes: ctx.opts.maxBodyBytes },
      {
        onRequest: (req) => this.enqueue(req),
        onResponse: () => undefined, // the server sends no requests; a stray response is ignored
        onInterleaved: (channel, payload) => this.onInterleaved(channel, payload),
      },
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.log.debug({ err }, "rtsp connection error"));
    socket.on("close", () => this.onClose());
  }

  /** True once closed or closing: a reader's media stops here (queued answers still go out). */
  get closed(): boolean {
    return this.isClosed || this.closing;
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  write(data: Buffer): void {
    if (!this.isClosed && !this.closing) this.socket.write(data);
  }

  /**
   * Closes the connection once every request already read is answered, in order (a session
   * timeout or a kick must not swallow the answer to a PAUSE or TEARDOWN waiting in the queue);
   * its TCP sessions end with it.
   */
  close(): void {
    if (this.isClosed || this.closing) return;
    this.closing = true;
    this.queue = this.queue.then(() => {
      this.socket.end();
    });
  }

  /** Closes at once (server shutdown: a peer that never closes must not hold the stop). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.unframed) return;
    let input = chunk;
    // A non-fatal error skipped one bad message; the bytes after it wait in the reader.
    for (;;) {
      try {
        this.reader.push(input);
        return;
      } catch (err) {
        if (!(err instanceof RtspWireError)) {
          // A bug on this connection's media path must not take the server down: this connection goes.
          this.log.error({ err }, "rtsp input handling failed: closing the connection");
          this.unframed = true;
          this.socket.destroy();
          return;
        }
        this.counters.refused++;
        this.ctx.input.refusedRequests++;
        this.log.info({ status: err.status, err: err.message }, "bad rtsp input");
        const { status, message, fatal, cseq } = err;
        // Answered in order, after the requests before it.
        this.queue = this.queue.then(() => {
          const headers = new RtspHeaders();
          if (cseq !== undefined && /^\d{1,9}$/.test(cseq.trim())) headers.set("CSeq", cseq.trim());
          this.send(status, headers, textBody(message), "text/plain");
          if (fatal) this.close();
        });
        if (fatal) {
          this.unframed = true;
          return;
        }
        input = Buffer.alloc(0);
      }
    }
  }

  private onInterleaved(channel: number, payload: Buffer): void {
    const route = this.channelMap.get(channel);
    if (!route || route.session.isEnded) {
      this.counters.unknownChannel++;
      this.ctx.input.unknownChannelFrames++;
      return;
    }
    if (payload.length === 0) {
      this.counters.badFrames++;
      this.ctx.input.badFrames++;
      return;
    }
    // The payload views the wire reader's buffer only for this call; depacketized NALs keep views.
    route.session.onTcpFrame(route.index, route.rtcp, Buffer.from(payload));
  }

  private pending = 0;
  private enqueue(req: RtspRequest): void {
    if (++this.pending > MAX_PENDING_REQUESTS) {
      this.log.info({ pending: this.pending }, "rtsp client pipelines too many requests: closing the connection");
      this.socket.destroy();
      return;
    }
    this.queue = this.queue
      .then(() => this.handle(req))
      .catch((err: unknown) => {
        this.log.error({ err }, "rtsp request handling failed");
      })
      .finally(() => {
        this.pending--;
      });
  }

  private async handle(req: RtspRequest): Promise<void> {
    // A TEARDOWN read before the peer closed still counts (GStreamer closes right after sending it).
    // One read after our end went out gets no answer (the socket cannot carry it).
    if ((this.isClosed || this.socket.writableEnded) && req.method !== "TEARDOWN") return;
    this.counters.requests++;
    const cseqText = req.headers.get("CSeq");
    const headers = new RtspHeaders();
    if (cseqText === undefined || !/^\d{1,9}$/.test(cseqText.trim())) {
      // RFC 2326 §12.17: every request carries one; a response without it matches nothing.
      this.refuse(new RtspStatus(400, cseqText === undefined ? "CSeq header missing" : `CSeq "${cseqText.slice(0, 20)}" is not a number`), headers);
      return;
    }
    headers.set("CSeq", cseqText.trim());
    headers.set("Server", "ImageFlowCanvas Ingest");
    try {
      const res = await this.dispatch(req, headers);
      this.send(200, headers, res?.body ?? Buffer.alloc(0), res?.contentType);
    } catch (err) {
      if (err instanceof RtspStatus) this.refuse(err, headers);
      else if (err instanceof RtspWireError) this.refuse(new RtspStatus(err.status, err.message), headers);
      else {
        this.log.error({ err, method: req.method }, "rtsp request failed");
        this.refuse(new RtspStatus(500, "internal error"), headers);
      }
    }
  }

  private refuse(err: RtspStatus, headers: RtspHeaders): void {
    this.counters.refused++;
    this.ctx.input.refusedRequests++;
    for (const [k, v] of Object.entries(err.headers)) headers.set(k, v);
    this.log.info({ status: err.status, err: err.message }, "rtsp request refused");
    this.send(err.status, headers, textBody(err.message), "text/plain", err.reason);
  }

  private send(status: number, headers: RtspHeaders, body: Buffer, contentType?: string, reason?: string): void {
    if (this.isClosed || this.socket.writableEnded) return;
    if (body.length > 0 && contentType) headers.set("Content-Type", contentType);
    this.socket.write(serializeResponse({ status, reason: reason ?? reasonPhrase(status), headers, body }));
  }

  private async dispatch(req: RtspRequest, headers: RtspHeaders): Promise<{ body: Buffer; contentType: string } | undefined> {
    const method = req.method;
    if (!KNOWN.has(method)) throw new RtspStatus(501, `method ${method.slice(0, 32)} is not implemented`, { Public: PUBLIC_METHODS });
    if (method === "OPTIONS") {
      headers.set("Public", PUBLIC_METHODS);
      this.touch(req, headers, false);
      return undefined;
    }
    if (method === "GET_PARAMETER" || method === "SET_PARAMETER") {
      // Keep-alives (RFC 2326 §10.8/§10.9). No parameters are served or set.
      this.touch(req, headers, false);
      if (method === "SET_PARAMETER" && req.body.length > 0) throw new RtspStatus(451, "no parameter can be set");
      return undefined;
    }
    if (method === "DESCRIBE") return this.describe(req, headers);
    if (method === "ANNOUNCE") {
      await this.announce(req, headers);
      return undefined;
    }
    if (method === "SETUP") {
      await this.setup(req, headers);
      return undefined;
    }
    const session = this.touch(req, headers, true) as RtspSession;
    if (method === "RECORD") this.record(session);
    else if (method === "PLAY") this.play(session, req, headers);
    else if (method === "PAUSE") this.pause(session);
    else if (method === "TEARDOWN") {
      session.end("teardown");
      headers.delete("Session");
    }
    return undefined;
  }

  /** The session a request names (Session header), its activity refreshed; with `required`, 454 when none. */
  private touch(req: RtspRequest, headers: RtspHeaders, required: boolean): RtspSession | undefined {
    const value = req.headers.get("Session");
    if (value === undefined) {
      if (required) throw new RtspStatus(454, `${req.method} needs a Session header`);
      return undefined;
    }
    const id = value.split(";")[0]?.trim() ?? "";
    const session = this.ctx.sessions.get(id);
    if (!session || session.isEnded || session.clientAddress !== this.clientAddress) throw new RtspStatus(454, "no such session");
    session.lastActivity = Date.now();
    this.adopt(session);
    headers.set("Session", this.sessionHeader(session));
    return session;
  }

  private sessionHeader(session: RtspSession): string {
    return `${session.id};timeout=${Math.floor(this.ctx.opts.sessionTimeoutMs / 1000)}`;
  }

  private adopt(session: RtspSession): void {
    if (this.sessions.has(session)) return;
    this.sessions.add(session);
    session.onEnd(() => {
      this.sessions.delete(session);
      for (const [ch, r] of this.channelMap) if (r.session === session) this.channelMap.delete(ch);
    });
  }

  private newSession(): RtspSession {
    const session = new RtspSession(this.clientAddress, this, this.log);
    this.ctx.addSession(session);
    this.adopt(session);
    return session;
  }

  // --- authorization -------------------------------------------------------------------------

  private async authorize(req: RtspRequest, target: RtspTarget, access: RtspAccess): Promise<string> {
    const credentials = this.credentialsOf(req, target);
    // Keyed by a hash: the connection keeps no password in memory.
    const key = createHash("sha256").update(`${access}\u0000${target.stream}\u0000${credentials ? `${credentials.username}\u0000${credentials.password}` : ""}`).digest("base64");
    const known = this.authorized.get(key);
    if (known !== undefined) return known;
    try {
      const { identity } = await this.ctx.authorizer.authorize(target.stream, access, credentials, this.clientAddress);
      if (this.authorized.size >= MAX_REMEMBERED_AUTHORIZATIONS) this.authorized.clear();
      this.authorized.set(key, identity);
      return identity;
    } catch (err) {
      if (!(err instanceof RtspAuthRefused)) throw err;
      if (err.status === 401) throw new RtspStatus(401, err.message, { "WWW-Authenticate": basicChallenge(this.ctx.opts.realm) });
      // RTSP 1.0 has no 429: 503 with Retry-After is what clients know (RFC 2326 §7.1.1).
      if (err.status === 429) throw new RtspStatus(503, err.message, { "Retry-After": "5" });
      throw new RtspStatus(403, err.message);
    }
  }

  /** Basic credentials from the Authorization header, else from the URL; Digest cannot be checked (no plain secrets here): as none, so the client is challenged with Basic. */
  private credentialsOf(req: RtspRequest, target: RtspTarget): RtspCredentials | undefined {
    const header = req.headers.get("Authorization");
    if (header !== undefined) {
      let auth;
      try {
        auth = parseAuthorization(header);
      } catch {
        throw new RtspStatus(401, "Authorization header is malformed", { "WWW-Authenticate": basicChallenge(this.ctx.opts.realm) });
      }
      if (auth.scheme === "basic") return { username: auth.username, password: auth.password };
      throw new RtspStatus(401, "Digest is not accepted: this server keeps no plain secrets; use Basic", { "WWW-Authenticate": basicChallenge(this.ctx.opts.realm) });
    }
    if (target.password !== undefined) return { username: target.username ?? "", password: target.password };
    return undefined;
  }

  // --- publish -------------------------------------------------------------------------------

  private async announce(req: RtspRequest, headers: RtspHeaders): Promise<void> {
    if (req.headers.get("Session") !== undefined) throw new RtspStatus(455, "ANNOUNCE starts a new session; this request names one");
    const target = parseRtspTarget(req.uri);
    const type = req.headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/sdp") throw new RtspStatus(415, `ANNOUNCE needs an application/sdp body (got ${type ?? "none"}); this server takes ${SUPPORTED_CODECS}`);
    const identity = await this.authorize(req, target, "publish");
    const sdp = parseRtspSdp(req.body.toString("utf8"));
    const unsupported = sdp.unsupported.map((u) => `${u.kind} ${u.encoding} (payload type ${u.payloadType})`).join(", ");
    if (sdp.tracks.length === 0) {
      throw new RtspStatus(415, `unsupported codecs: ${unsupported || "no media"}; this server takes ${SUPPORTED_CODECS}`, { "X-Supported-Codecs": SUPPORTED_CODECS });
    }
    // Only a newcomer costs headroom: the identity already holding the stream (a reconnect) is never refused.
    if (this.ctx.registry.get(target.stream)?.identity !== identity) this.admitPublisher();
    const base = req.headers.get("Content-Base") ?? req.headers.get("Content-Location") ?? req.uri;
    const paths = sdp.tracks.map((t) => pathOf(resolveControl(base, t.control)));
    // A camera's G.711 beside its H.264 must not cost the video: such tracks are set up and dropped.
    const ignoredPaths = mediaControls(req.body.toString("utf8"))
      .map((c) => pathOf(resolveControl(base, c)))
      .filter((p) => !paths.includes(p));
    if (unsupported) this.log.warn({ stream: target.stream, ignored: unsupported, supported: SUPPORTED_CODECS }, "rtsp publisher announces tracks of codecs this server does not take: they are dropped");
    const streamLog = this.log.child({ stream: target.stream });
    let ingest: RtpTracksIngest;
    try {
      ingest = new RtpTracksIngest(sdp.tracks, this.ctx.opts.ingest, streamLog);
    } catch (err) {
      // A codec's parameters this server cannot use (an AAC config, AU-header sizes).
      throw new RtspStatus(415, `${err instanceof Error ? err.message : String(err)}; this server takes ${SUPPORTED_CODECS}`);
    }
    const session = this.newSession();
    session.mode = "publish";
    session.streamName = target.stream;
    session.announced = { tracks: sdp.tracks, paths, ignoredPaths };
    const log = streamLog.child({ session: session.id });
    const publisher = new RtspPublisher(session.id, target.stream, identity, ingest, this.ctx.registry, log, () => session.udpPorts());
    try {
      await this.ctx.registry.admit(target.stream, identity, session.id);
      // The connection closed while the cluster answered: nothing to claim for.
      if (session.isEnded) return;
      publisher.claim();
    } catch (err) {
      session.end("error");
      if (err instanceof Conflict) {
        // MediaMTX answers 400 for a path someone already publishes; the reason phrase says why.
        throw new RtspStatus(400, `stream "${target.stream}" already has a live publisher with other credentials`, {}, "Stream Already Published");
      }
      if (err instanceof CapacityExceeded) throw new RtspStatus(503, err.message, { "Retry-After": String(err.retryAfterSeconds) });
      if (err instanceof DomainError) throw new RtspStatus(400, err.message);
      throw err;
    }
    session.publisher = publisher;
    // The stream ended under the session (kick, grace expiry, takeover): the session goes too.
    publisher.onEnd((reason) => session.end(reason === "deleted" ? "stream-ended" : reason));
    session.state = "announced";
    headers.set("Session", this.sessionHeader(session));
    this.log.info({ stream: target.stream, session: session.id, tracks: sdp.tracks.map((t) => `${t.kind}/${t.codec}`) }, "rtsp publisher announced");
  }

  /** The CPU admission check (IFC_MAX_CPU_PERCENT) as RTSP's 503 with Retry-After. */
  private admitPublisher(): void {
    try {
      this.ctx.opts.admission?.admit("rtsp");
    } catch (err) {
      if (err instanceof CapacityExceeded) throw new RtspStatus(503, err.message, { "Retry-After": String(err.retryAfterSeconds) });
      throw err;
    }
  }

  private record(session: RtspSession): void {
    if (session.mode !== "publish" || (session.state !== "ready" && session.state !== "record")) {
      throw new RtspStatus(455, `RECORD is not valid in state ${session.state}${session.mode === "read" ? " (a reading session)" : ""}`);
    }
    if (session.state === "record") return;
    session.state = "record";
    session.recordingSince = Date.now();
    session.publisher?.record();
  }

  // --- read ----------------------------------------------------------------------------------

  private async describe(req: RtspRequest, headers: RtspHeaders): Promise<{ body: Buffer; contentType: string }> {
    const target = parseRtspTarget(req.uri);
    await this.authorize(req, target, "read");
    // An on-demand camera starts for its first reader (no-op for other streams).
    await this.ctx.opts.demand?.(target.stream);
    const stream = this.ctx.registry.get(target.stream);
    if (!stream) {
      // RTSP 1.0 has no 307: 302 is the redirect ffmpeg, GStreamer and VLC follow (RFC 2326 §11.3.3).
      const owner = await this.ctx.opts.ownerElsewhere?.(target.stream);
      if (owner) throw new RtspStatus(302, `stream "${target.stream}" is served by another node`, { Location: `${owner}/${target.stream}${queryOf(req.uri)}` });
    }
    const tracks = stream ? describeTracks(stream) : [];
    if (!stream || tracks.length === 0) throw new RtspStatus(404, `stream "${target.stream}" is not live`);
    const base = `rtsp://${hostOf(req.uri)}/${target.stream}/`;
    headers.set("Content-Base", base);
    const sdp = buildRtspSdp({ sessionName: target.stream, originAddress: this.socket.localAddress ?? "0.0.0.0", tracks });
    return { body: Buffer.from(sdp, "utf8"), contentType: "application/sdp" };
  }

  private play(session: RtspSession, req: RtspRequest, headers: RtspHeaders): void {
    if (session.mode !== "read" || (session.state !== "ready" && session.state !== "play")) {
      throw new RtspStatus(455, `PLAY is not valid in state ${session.state}${session.mode === "publish" ? " (a publishing session)" : ""}`);
    }
    const stream = session.readStream;
    if (!stream || stream.hub.isClosed || this.ctx.registry.get(stream.name) !== stream) {
      session.end("stream-ended");
      throw new RtspStatus(404, `stream "${session.streamName}" is no longer live`);
    }
    if (session.state === "play" && session.reader) {
      headers.set("Range", "npt=0.000-");
      return;
    }
    const setUp = [...session.transports.keys()].sort((a, b) => a - b);
    const reader = new RtspReader(stream, session.describeTracks, setUp, session.readTransport(this.ctx.opts.writeBufferBytes), this.ctx.opts.reader);
    reader.onEnd(() => session.end("stream-ended"));
    session.reader = reader;
    reader.start();
    session.state = "play";
    const base = `rtsp://${hostOf(req.uri)}/${session.streamName}/`;
    headers.set("Range", "npt=0.000-");
    headers.set("RTP-Info", reader.rtpInfo(setUp.map((i) => `${base}trackID=${i}`)));
  }

  private pause(session: RtspSession): void {
    if (session.state === "play" || session.state === "record" || session.state === "ready") {
      // A reader stops until the next PLAY. A publisher's PAUSE (GStreamer's rtspclientsink sends
      // one at EOS, before TEARDOWN) stops taking media until RECORD again; its stream stays.
      session.reader?.stop();
      session.reader = undefined;
      session.state = "ready";
      return;
    }
    throw new RtspStatus(455, `PAUSE is not valid in state ${session.state}`);
  }

  // --- SETUP (both) --------------------------------------------------------------------------

  private async setup(req: RtspRequest, headers: RtspHeaders): Promise<void> {
    const target = parseRtspTarget(req.uri);
    let session = this.touch(req, headers, false);
    const transportHeader = req.headers.get("Transport");
    if (transportHeader === undefined) throw new RtspStatus(400, "SETUP needs a Transport header");
    const alternatives = parseTransportHeader(transportHeader);

    let index: number;
    if (session?.mode === "publish") {
      if (session.state !== "announced" && session.state !== "ready") throw new RtspStatus(455, `SETUP is not valid in state ${session.state}`);
      index = this.publishTrackOf(session, req.uri);
    } else {
      if (session && session.state !== "initial" && session.state !== "ready") throw new RtspStatus(455, `SETUP is not valid in state ${session.state}`);
      if (session && session.streamName !== target.stream) throw new RtspStatus(400, `a session reads one stream (${session.streamName})`);
      await this.authorize(req, target, "read");
      const stream = this.ctx.registry.get(target.stream);
      const tracks = session?.readStream === stream && session ? session.describeTracks : stream ? describeTracks(stream) : [];
      if (!stream || tracks.length === 0) throw new RtspStatus(404, `stream "${target.stream}" is not live`);
      const m = /^trackID=(\d{1,3})$/.exec(target.rest);
      index = m ? Number(m[1]) : target.rest === "" && tracks.length === 1 ? 0 : -1;
      if (index < 0 || index >= tracks.length) throw new RtspStatus(404, `no track "${target.rest}" in stream "${target.stream}" (tracks: ${tracks.map((_, i) => `trackID=${i}`).join(", ")})`);
      if (!session) {
        session = this.newSession();
        session.mode = "read";
        session.streamName = target.stream;
        session.readStream = stream;
        session.describeTracks = tracks;
        headers.set("Session", this.sessionHeader(session));
      }
    }
    if (session.transports.has(index)) throw new RtspStatus(455, `track ${index} is already set up`);
    const { transport, answer } = await this.chooseTransport(session, alternatives);
    session.transports.set(index, transport);
    if (transport.lower === "tcp") {
      this.channelMap.set(transport.channels[0], { session, index, rtcp: false });
      this.channelMap.set(transport.channels[1], { session, index, rtcp: true });
    } else session.listenUdp(index, transport.pair);
    if (session.state === "announced" || session.state === "initial") session.state = "ready";
    headers.set("Transport", formatTransport(answer));
  }

  private publishTrackOf(session: RtspSession, uri: string): number {
    const announced = session.announced;
    if (!announced) throw new RtspStatus(455, "no ANNOUNCE before SETUP");
    const path = pathOf(uri);
    let index = announced.paths.indexOf(path);
    // One track with the aggregate control (`a=control:*` or none): the stream URL sets it up.
    if (index < 0 && announced.tracks.length === 1 && announced.ignoredPaths.length === 0 && path === session.streamName) index = 0;
    // A track of a codec this server does not take: indexes past the ingest's tracks, its packets dropped.
    const ignored = announced.ignoredPaths.indexOf(path);
    if (index < 0 && ignored >= 0) index = announced.tracks.length + ignored;
    if (index < 0) throw new RtspStatus(404, `no announced track at "${path.slice(0, 100)}" (tracks: ${announced.paths.join(", ")})`);
    return index;
  }

  /** The first alternative this server can use: TCP interleaved, or UDP unicast with the client's ports. */
  private async chooseTransport(session: RtspSession, alternatives: RtspTransport[]): Promise<{ transport: TrackTransport; answer: RtspTransport }> {
    for (const alt of alternatives) {
      if (alt.delivery !== "unicast") continue;
      if (alt.lower === "tcp") {
        const channels = alt.interleaved ?? this.freeChannels();
        if (channels.some((c) => this.channelMap.has(c))) throw new RtspStatus(400, `interleaved channels ${channels.join("-")} are already in use on this connection`);
        const answer: RtspTransport = { lower: "tcp", delivery: "unicast", interleaved: channels, ...(alt.mode ? { mode: alt.mode } : {}) };
        return { transport: { lower: "tcp", channels, link: this }, answer };
      }
      if (!alt.clientPort || !this.ctx.udp.enabled) continue;
      const pair = await this.ctx.udp.allocate();
      if (!pair) throw new RtspStatus(453, `every UDP port pair of IFC_RTSP_UDP_PORT_MIN..MAX (${this.ctx.udp.capacity}) is in use; use TCP (interleaved)`);
      if (session.isEnded) {
        pair.close();
        throw new RtspStatus(454, "the session ended");
      }
      const answer: RtspTransport = {
        lower: "udp", delivery: "unicast", clientPort: alt.clientPort, serverPort: [pair.rtpPort, pair.rtcpPort], ...(alt.mode ? { mode: alt.mode } : {}),
      };
      return { transport: { lower: "udp", pair, clientAddress: this.clientAddress, clientPorts: alt.clientPort }, answer };
    }
    throw new RtspStatus(461, this.ctx.udp.enabled ? "use RTP/AVP/TCP (interleaved) or RTP/AVP unicast with client_port" : "use RTP/AVP/TCP (interleaved): UDP transport is off on this server");
  }

  private freeChannels(): [number, number] {
    for (let c = 0; c < 254; c += 2) if (!this.channelMap.has(c) && !this.channelMap.has(c + 1)) return [c, c + 1];
    throw new RtspStatus(453, "no interleaved channel left on this connection");
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.ctx.connectionClosed(this);
    // After the requests already read (a TEARDOWN among them ends its session deliberately).
    void this.queue.then(() => {
      for (const session of [...this.sessions]) {
        // Sessions on this connection's TCP transport, or not playing/recording yet, end with it;
        // a UDP session in RECORD/PLAY lives on until its timeout (gortsplib does the same).
        if (session.usesTcp || (session.state !== "record" && session.state !== "play")) session.end("connection-closed");
      }
    });
  }
}

/** Each media section's `a=control`, in SDP order (parseRtspSdp keeps them only for the tracks it takes). */
function mediaControls(sdp: string): string[] {
  const out: string[] = [];
  let inMedia = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) inMedia = true;
    else if (inMedia && line.startsWith("a=control:")) out.push(line.slice(10).trim());
  }
  return out;
}

function textBody(message: string): Buffer {
  return Buffer.from(`${message}\r\n`, "utf8");
}

/** `host[:port]` of a Request-URI (the Content-Base and RTP-Info URLs use the name the client used). */
function hostOf(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return "localhost";
  }
}

/** The query of a request URI (`?token=…` rides along a redirect), or "". */
function queryOf(uri: string): string {
  const q = uri.indexOf("?");
  return q < 0 ? "" : uri.slice(q);
}
