/**
 * An RTSP 1.0 client (RFC 2326) for cameras that only serve: OPTIONS, DESCRIBE (Basic/Digest
 * on a 401, credentials from the URL), SETUP of each supported track over TCP interleaved or
 * UDP, PLAY, keep-alives, TEARDOWN. It only moves bytes: RTP and RTCP go to callbacks per
 * track, synchronously, on the socket's own tick. Modelled on gortsplib's client (one request
 * in flight, CSeq-matched responses, per-track transports).
 */
import { randomInt } from "node:crypto";
import { isIP, Socket } from "node:net";
import { emptyReceiverReport } from "../../media/rtp-packet.js";
import { answerChallenge, parseChallenges, splitUrlCredentials, type RtspChallenge } from "./auth.js";
import { interleavedFrame, RtspHeaders, serializeRequest, serializeResponse, type RtspResponse } from "./message.js";
import { parseRtspSdp, resolveControl, type RtspSdpTrack, type UnsupportedTrack } from "./sdp.js";
import { formatTransport, parseTransportHeader, type RtspTransport } from "./transport.js";
import { bindUdpPair, closeQuietly, type UdpPair } from "./udp-pair.js";
import { RtspWireReader, type RtspWireLimits } from "./wire-reader.js";

/** Why a pull failed: the source manager retries all of them, but shows which. */
export type RtspClientErrorKind = "auth" | "not-found" | "unsupported" | "network" | "timeout" | "protocol";

export class RtspClientError extends Error {
  override name = "RtspClientError";
  constructor(
    readonly kind: RtspClientErrorKind,
    message: string,
    /** The RTSP status that caused it, when a server answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export type ClientTransport = "tcp" | "udp" | "auto";

export interface RtspClientOptions {
  /** `rtsp://[user:pass@]host[:port]/path`. */
  url: string;
  /** `auto`: UDP first, TCP interleaved when the server refuses UDP (461). */
  transport: ClientTransport;
  /** Connect and each response must come within this (IFC_SOURCE_CONNECT_TIMEOUT_MS). */
  timeoutMs: number;
  /** Response framing limits (IFC_RTSP_MAX_HEADER_BYTES / IFC_RTSP_MAX_BODY_BYTES). */
  limits: RtspWireLimits;
  /** UDP receive buffer per RTP socket (IFC_RTSP_UDP_RECV_BUFFER_BYTES; 0: kernel default). */
  udpRecvBufferBytes: number;
  /** Keep-alive period when the server's Session header names no timeout (RFC 2326's default 60 s, halved). */
  defaultKeepAliveMs?: number;
  userAgent?: string;
}

export interface RtspClientHandlers {
  /** One RTP packet of track `index` (the index in `describe().tracks`); the buffer may be reused after the call. */
  onRtp(index: number, packet: Buffer): void;
  onRtcp(index: number, packet: Buffer): void;
  /** The session ended by itself (socket closed, keep-alive refused); not called for `close()`. */
  onClose(err: RtspClientError): void;
}

export interface DescribeResult {
  /** Tracks of codecs this server takes, in SDP order. */
  tracks: RtspSdpTrack[];
  unsupported: UnsupportedTrack[];
  /** The raw SDP, for logs. */
  sdp: string;
}

interface Pending {
  cseq: number;
  resolve(res: RtspResponse): void;
  reject(err: RtspClientError): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_PORT = 554;
/** How many times a random even/odd UDP port pair is tried before giving up. */
const UDP_PAIR_TRIES = 16;
/** RTCP receiver reports to the camera: some drop a session (or its NAT binding) that reports nothing (RFC 3550 §6.2: ~5 s). */
const RECEIVER_REPORT_MS = 5000;

export class RtspClient {
  private readonly baseUrl: string;
  private readonly username: string | undefined;
  private readonly password: string | undefined;
  private readonly host: string;
  private readonly port: number;
  private socket: Socket | undefined;
  private reader: RtspWireReader;
  private cseq = 0;
  private pending: Pending | undefined;
  /** Requests go one at a time (responses carry no request id beyond CSeq; cameras mishandle pipelining). */
  private chain: Promise<unknown> = Promise.resolve();
  private challenge: RtspChallenge | undefined;
  private nonceCount = 0;
  private session: string | undefined;
  private keepAliveMs: number;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private publicMethods = new Set<string>();
  private contentBase: string;
  private tracks: RtspSdpTrack[] = [];
  /** Interleaved channel → track index and whether it is RTCP. */
  private readonly channels = new Map<number, { index: number; rtcp: boolean }>();
  private readonly udp: UdpPair[] = [];
  /** The camera's RTCP port per track (UDP), where receiver reports go. */
  private readonly serverRtcpPorts: number[] = [];
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly ssrc = randomInt(1, 0xffffffff);
  private closed = false;
  private playing = false;
  /** The transport in use after SETUP. */
  lower: "tcp" | "udp" | undefined;

  constructor(
    private readonly opts: RtspClientOptions,
    private readonly handlers: RtspClientHandlers,
  ) {
    const split = splitUrlCredentials(opts.url);
    let parsed: URL;
    try {
      parsed = new URL(split.url);
    } catch {
      throw new RtspClientError("protocol", `not a URL: ${split.url}`);
    }
    if (parsed.protocol !== "rtsp:") throw new RtspClientError("protocol", `not an rtsp:// URL: ${split.url}`);
    this.baseUrl = split.url;
    this.contentBase = split.url;
    this.username = split.username;
    this.password = split.password;
    // URL keeps IPv6 hosts bracketed; net.connect wants them bare.
    this.host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = parsed.port ? Number(parsed.port) : DEFAULT_PORT;
    this.keepAliveMs = opts.defaultKeepAliveMs ?? 30_000;
    this.reader = this.newReader();
  }

  /** The URL without credentials (for logs and the API). */
  get url(): string {
    return this.baseUrl;
  }

  private newReader(): RtspWireReader {
    return new RtspWireReader(this.opts.limits, {
      onRequest: (req) => {
        // Servers may send requests (SET_PARAMETER, ANNOUNCE); none is needed to pull: refuse politely.
        const headers = new RtspHeaders();
        const cseq = req.headers.get("CSeq");
        if (cseq !== undefined) headers.set("CSeq", cseq);
        this.socket?.write(serializeResponse({ status: 501, reason: "Not Implemented", headers, body: Buffer.alloc(0) }));
      },
      onResponse: (res) => this.onResponse(res),
      onInterleaved: (channel, payload) => {
        const ch = this.channels.get(channel);
        if (!ch || !this.playing) return;
        if (ch.rtcp) this.handlers.onRtcp(ch.index, payload);
        else this.handlers.onRtp(ch.index, payload);
      },
    });
  }

  /** Opens the TCP connection (within `timeoutMs`). */
  async connect(): Promise<void> {
    if (this.socket) return;
    const socket = new Socket();
    this.socket = socket;
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RtspClientError("timeout", `no TCP connection to ${this.host}:${this.port} within ${this.opts.timeoutMs} ms`));
      }, this.opts.timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new RtspClientError("network", `cannot connect to ${this.host}:${this.port}: ${err.message}`));
      });
      socket.connect(this.port, this.host);
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(new RtspClientError("protocol", `bad data from the server: ${(err as Error).message}`));
      }
    });
    socket.on("error", (err) => this.fail(new RtspClientError("network", `connection to ${this.host}:${this.port} failed: ${err.message}`)));
    socket.on("close", () => this.fail(new RtspClientError("network", `the server closed the connection`)));
  }

  /** OPTIONS then DESCRIBE: the tracks the camera offers. Throws `unsupported` when none is of a codec this server takes. */
  async describe(): Promise<DescribeResult> {
    await this.connect();
    const options = await this.request("OPTIONS", this.baseUrl);
    // Some cameras refuse OPTIONS before DESCRIBE (or need auth for it): only its Public matters.
    if (options.status === 200) this.readPublic(options);
    const headers = new RtspHeaders().set("Accept", "application/sdp");
    const res = await this.request("DESCRIBE", this.baseUrl, headers);
    this.mustSucceed(res, "DESCRIBE");
    const sdp = res.body.toString("utf8");
    let parsed;
    try {
      parsed = parseRtspSdp(sdp);
    } catch (err) {
      throw new RtspClientError("protocol", `the camera's SDP is malformed: ${(err as Error).message}`);
    }
    this.contentBase = res.headers.get("Content-Base") ?? res.headers.get("Content-Location") ?? this.baseUrl;
    if (parsed.tracks.length === 0) {
      const offered = parsed.unsupported.map((u) => `${u.kind} ${u.encoding}`).join(", ") || "none";
      throw new RtspClientError("unsupported", `the camera offers no supported codec (offered: ${offered})`, 415);
    }
    this.tracks = parsed.tracks;
    return { tracks: parsed.tracks, unsupported: parsed.unsupported, sdp };
  }

  /** SETUP of every track `describe` returned, then PLAY. Media flows to the handlers from now on. */
  async play(): Promise<void> {
    if (this.tracks.length === 0) throw new RtspClientError("protocol", "play() before describe()");
    let lower: "tcp" | "udp" = this.opts.transport === "tcp" ? "tcp" : "udp";
    for (let i = 0; i < this.tracks.length; i++) {
      const res = await this.setup(i, lower);
      if (res.status === 461 && this.opts.transport === "auto" && lower === "udp" && i === 0) {
        // The camera refuses UDP (behind NAT, or TCP-only): interleave on the connection.
        this.closeUdp();
        lower = "tcp";
        this.mustSucceed(await this.setup(i, lower), "SETUP");
      } else {
        this.mustSucceed(res, "SETUP");
      }
    }
    this.lower = lower;
    this.playing = true;
    const headers = new RtspHeaders().set("Range", "npt=0.000-");
    const res = await this.request("PLAY", this.sessionUrl(), headers);
    this.mustSucceed(res, "PLAY");
    this.scheduleKeepAlive();
    this.reportTimer = setInterval(() => this.sendReceiverReports(), RECEIVER_REPORT_MS);
    this.reportTimer.unref();
  }

  private async setup(index: number, lower: "tcp" | "udp"): Promise<RtspResponse> {
    const track = this.tracks[index]!;
    const uri = resolveControl(this.contentBase, track.control);
    let asked: RtspTransport;
    if (lower === "tcp") {
      asked = { lower: "tcp", delivery: "unicast", interleaved: [index * 2, index * 2 + 1] };
    } else {
      const pair = await bindUdpPair(isIP(this.host) === 6 ? "udp6" : "udp4", this.opts.udpRecvBufferBytes, UDP_PAIR_TRIES);
      if (!pair) throw new RtspClientError("network", `no free even/odd UDP port pair for track ${index} after ${UDP_PAIR_TRIES} tries`);
      this.udp[index] = pair;
      asked = { lower: "udp", delivery: "unicast", clientPort: [pair.rtp.address().port, pair.rtcp.address().port] };
    }
    const res = await this.request("SETUP", uri, new RtspHeaders().set("Transport", formatTransport(asked)));
    if (res.status !== 200) return res;
    const sessionHeader = res.headers.get("Session");
    if (sessionHeader) this.readSession(sessionHeader);
    const answer = this.answeredTransport(res, asked);
    if (answer.lower === "tcp") {
      const [rtp, rtcp] = answer.interleaved ?? asked.interleaved ?? [index * 2, index * 2 + 1];
      this.channels.set(rtp, { index, rtcp: false });
      this.channels.set(rtcp, { index, rtcp: true });
    } else {
      this.listenUdp(index, answer.serverPort, answer.source);
    }
    return res;
  }

  private answeredTransport(res: RtspResponse, asked: RtspTransport): RtspTransport {
    const value = res.headers.get("Transport");
    if (!value) return asked;
    try {
      const [t] = parseTransportHeader(value);
      if (t && t.lower !== asked.lower) throw new RtspClientError("protocol", `SETUP asked for ${asked.lower}, the server answered ${t.lower}`);
      return t ?? asked;
    } catch (err) {
      if (err instanceof RtspClientError) throw err;
      throw new RtspClientError("protocol", `bad Transport in the SETUP answer: ${value}`);
    }
  }

  private listenUdp(index: number, serverPort: [number, number] | undefined, source: string | undefined): void {
    const pair = this.udp[index];
    if (!pair) return;
    // Only the camera's own packets (or those of the `source` its SETUP answer names): anyone
    // else who finds the port must not inject media.
    const allowed = new Set([this.socket?.remoteAddress, this.host, source].filter((a): a is string => a !== undefined));
    const fromServer = (address: string): boolean => allowed.has(address) || allowed.has(address.replace(/^::ffff:/, ""));
    pair.rtp.on("message", (msg, rinfo) => {
      if (this.playing && fromServer(rinfo.address)) this.handlers.onRtp(index, msg);
    });
    pair.rtcp.on("message", (msg, rinfo) => {
      if (this.playing && fromServer(rinfo.address)) this.handlers.onRtcp(index, msg);
    });
    if (serverPort) {
      this.serverRtcpPorts[index] = serverPort[1];
      // Opens NAT bindings towards the camera's ports, as gortsplib does before PLAY.
      const punch = Buffer.from([0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 0]);
      pair.rtp.send(punch, serverPort[0], this.host, () => undefined);
      pair.rtcp.send(punch, serverPort[1], this.host, () => undefined);
    }
  }

  /** Sends one request and waits for its answer; a 401 is answered once with the credentials. */
  request(method: string, uri: string, headers = new RtspHeaders(), body = Buffer.alloc(0)): Promise<RtspResponse> {
    const run = async (): Promise<RtspResponse> => {
      let res = await this.send(method, uri, headers, body);
      if (res.status === 401) {
        const challenges = parseChallengesSafe(res.headers.getAll("WWW-Authenticate"));
        const pick = challenges.find((c) => c.scheme === "digest") ?? challenges.find((c) => c.scheme === "basic");
        if (!pick) throw new RtspClientError("auth", `${method} refused (401) with no challenge this client can answer`, 401);
        if (this.username === undefined) throw new RtspClientError("auth", `${method} needs credentials (401): put them in the source URL`, 401);
        const fresh = this.challenge?.nonce !== pick.nonce || this.challenge?.scheme !== pick.scheme;
        // A stale nonce or a first challenge is answered; the same nonce refused twice means the password is wrong.
        if (!fresh && !pick.stale) throw new RtspClientError("auth", `${method} refused: wrong credentials for ${this.baseUrl}`, 401);
        this.challenge = pick;
        this.nonceCount = 0;
        res = await this.send(method, uri, headers, body);
        if (res.status === 401) throw new RtspClientError("auth", `${method} refused: wrong credentials for ${this.baseUrl}`, 401);
      }
      return res;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private send(method: string, uri: string, extra: RtspHeaders, body: Buffer): Promise<RtspResponse> {
    const socket = this.socket;
    if (!socket || this.closed) return Promise.reject(new RtspClientError("network", "the connection is closed"));
    const cseq = ++this.cseq;
    const headers = new RtspHeaders().set("CSeq", String(cseq));
    for (const [k, v] of extra.entries()) headers.append(k, v);
    headers.set("User-Agent", this.opts.userAgent ?? "ImageFlowCanvas-Ingest");
    if (this.session !== undefined) headers.set("Session", this.session);
    if (this.challenge && this.username !== undefined) {
      this.nonceCount++;
      headers.set("Authorization", answerChallenge(this.challenge, method, uri, this.username, this.password ?? "", this.nonceCount));
    }
    return new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        const err = new RtspClientError("timeout", `no answer to ${method} within ${this.opts.timeoutMs} ms`);
        reject(err);
        this.fail(err);
      }, this.opts.timeoutMs);
      this.pending = { cseq, resolve, reject, timer };
      socket.write(serializeRequest({ method, uri, headers, body }));
    });
  }

  private onResponse(res: RtspResponse): void {
    const p = this.pending;
    if (!p) return;
    const cseq = Number(res.headers.get("CSeq"));
    // A stray answer (to a request we gave up on) is not this one's.
    if (res.headers.has("CSeq") && cseq !== p.cseq) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    p.resolve(res);
  }

  private mustSucceed(res: RtspResponse, method: string): void {
    if (res.status === 200) return;
    const what = `${method} ${this.baseUrl}: ${res.status} ${res.reason}`;
    if (res.status === 404) throw new RtspClientError("not-found", what, res.status);
    if (res.status === 401 || res.status === 403) throw new RtspClientError("auth", what, res.status);
    if (res.status === 415 || res.status === 461) throw new RtspClientError("unsupported", what, res.status);
    throw new RtspClientError("protocol", what, res.status);
  }

  private readPublic(res: RtspResponse): void {
    const value = res.headers.get("Public");
    if (!value) return;
    for (const m of value.split(",")) this.publicMethods.add(m.trim().toUpperCase());
  }

  /** `Session: <id>[;timeout=<s>]` (RFC 2326 §12.37). */
  private readSession(value: string): void {
    const [id, ...params] = value.split(";");
    this.session = id!.trim();
    for (const p of params) {
      const m = /^\s*timeout\s*=\s*(\d+)\s*$/i.exec(p);
      if (m) this.keepAliveMs = Math.max(1000, (Number(m[1]) * 1000) / 2);
    }
  }

  /** The aggregate URL for PLAY and TEARDOWN: the content base (cameras answer on it). */
  private sessionUrl(): string {
    return this.contentBase;
  }

  private scheduleKeepAlive(): void {
    if (this.closed) return;
    this.keepAliveTimer = setTimeout(() => {
      // GET_PARAMETER when the camera lists it (some treat OPTIONS as no proof of life), else OPTIONS.
      const method = this.publicMethods.has("GET_PARAMETER") ? "GET_PARAMETER" : "OPTIONS";
      this.request(method, method === "OPTIONS" ? this.baseUrl : this.sessionUrl())
        .then((res) => {
          // Some cameras answer 405/501 to GET_PARAMETER and still count it: only an auth refusal ends it.
          if (res.status === 454) this.fail(new RtspClientError("protocol", `keep-alive refused: ${res.status} ${res.reason} (session gone)`, res.status));
          else this.scheduleKeepAlive();
        })
        .catch((err: unknown) => this.fail(err instanceof RtspClientError ? err : new RtspClientError("network", String(err))));
    }, this.keepAliveMs);
    this.keepAliveTimer.unref();
  }

  /** The keep-alive period in use (timeout / 2 from the server's Session header). */
  get keepAliveIntervalMs(): number {
    return this.keepAliveMs;
  }

  private sendReceiverReports(): void {
    if (this.closed || !this.playing) return;
    const rr = emptyReceiverReport(this.ssrc);
    for (let i = 0; i < this.tracks.length; i++) this.sendRtcp(i, rr);
  }

  /** Sends an RTCP packet for track `index` on its transport (interleaved, or to the camera's RTCP port). */
  sendRtcp(index: number, packet: Buffer): void {
    if (this.closed) return;
    if (this.lower === "tcp") {
      for (const [ch, v] of this.channels) if (v.index === index && v.rtcp) this.socket?.write(interleavedFrame(ch, packet));
      return;
    }
    const port = this.serverRtcpPorts[index];
    if (port !== undefined) this.udp[index]?.rtcp.send(packet, port, this.host, () => undefined);
  }

  private fail(err: RtspClientError): void {
    if (this.closed) return;
    this.shutdown();
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.handlers.onClose(err);
  }

  private shutdown(): void {
    this.closed = true;
    this.playing = false;
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.closeUdp();
    this.socket?.destroy();
  }

  private closeUdp(): void {
    for (const pair of this.udp) {
      if (!pair) continue;
      closeQuietly(pair.rtp);
      closeQuietly(pair.rtcp);
    }
    this.udp.length = 0;
  }

  /** TEARDOWN (best effort, bounded by the timeout) and close. Idempotent; `onClose` is not called. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.playing = false;
    if (this.session !== undefined && this.socket && !this.socket.destroyed) {
      await Promise.race([
        this.request("TEARDOWN", this.sessionUrl()).catch(() => undefined),
        new Promise((r) => setTimeout(r, Math.min(this.opts.timeoutMs, 2000)).unref()),
      ]);
    }
    if (this.closed) return;
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(new RtspClientError("network", "closed"));
    }
    this.shutdown();
  }
}

function parseChallengesSafe(values: readonly string[]): RtspChallenge[] {
  try {
    return parseChallenges(values);
  } catch {
    return [];
  }
}
