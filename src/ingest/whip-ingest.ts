import type { Logger } from "pino";
import type { AdmissionGate } from "../core/admission.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { assertStreamName } from "../core/stream-name.js";
import { ServiceUnavailableError } from "../errors.js";
import type { RtcPortBudget } from "../rtc/port-budget.js";
import { RtcSessions } from "../rtc/rtc-sessions.js";
import { iceRemoteOf, type SdpFrag } from "../rtc/sdp-frag.js";
import { parseOffer, selectCodecs } from "../rtc/sdp-offer.js";
// Types only: the session module carries werift (~33 MiB resident), loaded at the first publisher.
import type { WhipSession, WhipSessionOptions } from "./whip-session.js";

/** Loads the session class (and werift with it) once; the composition installs werift's replacements first. */
export type WhipSessionLoader = () => Promise<typeof WhipSession>;

/** The WHIP publishers of this server: creation, lookup and shutdown of sessions. */
export class WhipIngest {
  private readonly sessions = new RtcSessions<WhipSession>("WHIP");
  private accepting = true;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly opts: WhipSessionOptions,
    /** Shared with WHEP: publishers and viewers take ports of one ICE range. */
    private readonly ports: RtcPortBudget,
    private readonly log: Logger,
    private readonly loadSession: WhipSessionLoader,
    /** IFC_MAX_CPU_PERCENT: new publishers wait while the server has no CPU headroom. */
    private readonly admission?: AdmissionGate,
  ) {}

  /**
   * Validates the offer, claims the stream and answers; throws typed problems on bad input.
   * `identity` names the caller's credentials (see control/publisher-identity.ts): the same
   * identity resumes a `reconnecting` stream or takes a live one over; another gets 409.
   */
  async publish(streamName: string, offerSdp: string, identity: string): Promise<{ session: WhipSession; answer: string }> {
    assertStreamName(streamName);
    // Before the checks of state below: they must hold after this await.
    const Session = await this.loadSession();
    if (!this.accepting) throw new ServiceUnavailableError("server is shutting down", 5, "shutting-down");
    const codecs = selectCodecs(parseOffer(offerSdp));
    // Only a newcomer costs headroom: the identity already holding the stream (a re-POST after a
    // break, a takeover) is never refused, so a reconnect cannot lose its stream to admission.
    if (this.registry.get(streamName)?.identity !== identity) this.admission?.admit("whip");
    const releasePorts = this.ports.tryClaim();
    if (!releasePorts) {
      throw new ServiceUnavailableError(`the ICE port range IFC_RTC_PORT_MIN..IFC_RTC_PORT_MAX holds ${this.ports.capacity} WebRTC sessions (publishers and viewers) and all are in use`, 5, "rtc-ports-exhausted");
    }
    const session = new Session(streamName, identity, codecs, this.registry, this.opts, this.log.child({ stream: streamName }));
    const entry = { session, remote: iceRemoteOf(offerSdp) };
    session.onEnd(() => {
      this.sessions.delete(session.id);
      releasePorts();
    });
    let answer: string;
    try {
      // The cluster first (one publisher per stream over every node), then this node's registry.
      await this.registry.admit(streamName, identity, session.id);
      answer = await session.start(offerSdp);
    } catch (err) {
      releasePorts(); // a refused claim (409, 503) never starts, so never ends either
      throw err;
    }
    if (!session.isEnded) this.sessions.set(session.id, entry);
    return { session, answer };
  }

  get(streamName: string, sessionId: string): WhipSession {
    return this.sessions.sessionAt(streamName, sessionId);
  }

  /**
   * Applies a trickle-ice-sdpfrag. Returns the answer fragment when the publisher restarted
   * ICE (new ufrag), undefined for plain trickled candidates.
   */
  async patch(streamName: string, sessionId: string, frag: SdpFrag): Promise<string | undefined> {
    return this.sessions.patch(streamName, sessionId, frag);
  }

  /**
   * The publisher's DELETE: it meant to stop, so the stream ends at once. A session already
   * gone whose stream still waits for it (`reconnecting`) ends that stream too.
   */
  async delete(streamName: string, sessionId: string): Promise<void> {
    const waiting = this.registry.get(streamName);
    if (waiting && waiting.state === "reconnecting" && waiting.sessionId === sessionId && !this.sessions.has(sessionId)) {
      this.registry.release(waiting, "deleted");
      return;
    }
    await this.sessions.endAt(streamName, sessionId);
  }

  /** Ends a stream by an operator (REST or gRPC kick), whether its publisher is connected or awaited; false when not live. */
  async kick(streamName: string): Promise<boolean> {
    const live = this.registry.get(streamName);
    if (!live) return false;
    const session = this.sessions.get(live.sessionId);
    if (session && session.session.streamName === streamName) await session.session.end("kicked");
    else this.registry.release(live, "kicked");
    return true;
  }

  get count(): number {
    return this.sessions.size;
  }

  /** Stops accepting publishers and ends every session (their recordings then close). */
  async shutdown(): Promise<void> {
    this.accepting = false;
    await this.sessions.endAll("shutdown");
    // Streams whose publisher is gone wait for nobody now.
    for (const s of this.registry.list()) if (s.state === "reconnecting" && s.stats().protocol === "whip") this.registry.release(s, "shutdown");
  }
}
