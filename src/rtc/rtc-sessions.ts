import { NotFound } from "../core/errors.js";
import { applySdpFrag, type IcePatchable, type IceRemote, type SdpFrag } from "./sdp-frag.js";

export interface RtcSession extends IcePatchable {
  readonly id: string;
  readonly streamName: string;
  end(reason: string): Promise<void>;
}

export interface RtcSessionEntry<S extends RtcSession> {
  session: S;
  /** The remote ICE state kept between PATCHes. */
  remote: IceRemote;
}

/**
 * The live WHIP or WHEP sessions of this server by id, with what their session resources
 * (`PATCH`, `DELETE` on the `Location` URL) have in common.
 */
export class RtcSessions<S extends RtcSession, E extends RtcSessionEntry<S> = RtcSessionEntry<S>> extends Map<string, E> {
  constructor(private readonly protocol: "WHIP" | "WHEP") {
    super();
  }

  /** The session behind a resource URL; 404 when it is unknown or belongs to another stream. */
  sessionAt(streamName: string, sessionId: string): S {
    return this.entryAt(streamName, sessionId).session;
  }

  /** Trickled candidates (returns undefined), or an ICE restart when the client sent new credentials (returns the answer SDP). */
  async patch(streamName: string, sessionId: string, frag: SdpFrag): Promise<string | undefined> {
    const entry = this.entryAt(streamName, sessionId);
    return applySdpFrag(entry.session, entry.remote, frag);
  }

  /** Ends one session on the client's `DELETE`. */
  async endAt(streamName: string, sessionId: string): Promise<void> {
    await this.sessionAt(streamName, sessionId).end("deleted");
  }

  async endAll(reason: string): Promise<void> {
    await Promise.all([...this.values()].map((e) => e.session.end(reason)));
  }

  private entryAt(streamName: string, sessionId: string): E {
    const entry = this.get(sessionId);
    if (!entry || entry.session.streamName !== streamName) {
      throw new NotFound("session-not-found", `no ${this.protocol} session ${sessionId} on stream ${streamName}`);
    }
    return entry;
  }
}
