import type { Logger } from "pino";
import { CapacityExceeded, Conflict } from "../core/errors.js";
import type { ClaimGate, LiveStream, StreamLifecycle, StreamRegistry } from "../core/stream-registry.js";
import { systemTimers, type Timers } from "../core/timers.js";
import type { SessionRegistry, StreamOwner } from "../ports/session-registry.js";

export interface ClusterNodeOptions {
  /** This node's id (IFC_NODE_ID). */
  nodeId: string;
  /** Where clients reach this node (IFC_PUBLIC_URL, or the listening address): other nodes redirect readers here. Known after listen. */
  url: () => string;
  /** rtsp:// base of this node when it serves RTSP. */
  rtspUrl?: () => string | undefined;
  /** How often the node renews its streams' entries: a third of the registry's TTL, so one lost beat is survived. */
  heartbeatMs: number;
  timers?: Timers;
}

/**
 * This node's part in the cluster: it asks the shared SessionRegistry before any local claim
 * (one publisher per stream over every node), mirrors its streams' lifecycle there, renews them
 * on a heartbeat (writing them back if the store restarted empty), and ends a local stream that
 * another node took over. The media path never waits on it: only publish requests do.
 */
export class ClusterNode implements ClaimGate {
  private readonly timers: Timers;
  /** Admitted here and not claimed locally yet: released at the next beat if the claim never came (a failed offer). */
  private readonly admitted = new Map<string, number>();
  /** Per stream, the registry writes in lifecycle order. */
  private readonly writes = new Map<string, Promise<void>>();
  private beat: unknown;
  private beating: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly shared: SessionRegistry,
    private readonly streams: StreamRegistry,
    private readonly opts: ClusterNodeOptions,
    private readonly log: Logger,
  ) {
    this.timers = opts.timers ?? systemTimers;
  }

  /** Puts the gate in front of local claims and mirrors the streams' lifecycle (before anything publishes). */
  install(): void {
    this.streams.setGate(this);
    this.streams.onLifecycle((e) => this.mirror(e));
  }

  /** Starts the heartbeat (once the node's address is known); the first beat writes back what was claimed before. */
  start(): void {
    this.schedule();
  }

  async admit(name: string, identity: string, sessionId: string): Promise<void> {
    let result;
    try {
      result = await this.shared.claim(this.ownerRecord(name, this.clusterIdentity(identity), sessionId, "live", this.timers.now()));
    } catch (err) {
      this.log.warn({ err, stream: name }, "cluster state unreachable: publish refused");
      // Fail closed: without the shared registry two nodes could both take the stream.
      throw new CapacityExceeded("cluster-state-unavailable", `the cluster's shared state cannot be reached (${(err as Error).message})`, 2, { stream: name });
    }
    if (result.outcome === "refused") {
      throw new Conflict("stream-busy", `stream "${name}" already has a live publisher (on node ${result.holder.nodeId})`, { stream: name, node: result.holder.nodeId });
    }
    if (result.outcome === "taken-over" && result.previous.nodeId !== this.opts.nodeId) {
      this.log.info({ stream: name, from: result.previous.nodeId }, "publisher moved here from another node: that node ends its copy at its next heartbeat");
    }
    this.admitted.set(name, this.timers.now());
  }

  /** The stream's owner when another node holds it (readers are redirected there), else undefined. */
  async ownerElsewhere(name: string): Promise<StreamOwner | undefined> {
    if (this.streams.get(name)) return undefined;
    const owner = await this.shared.get(name);
    return owner && owner.nodeId !== this.opts.nodeId ? owner : undefined;
  }

  /** Every stream of the cluster (REST lists them on any node). */
  list(): Promise<StreamOwner[]> {
    return this.shared.list();
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Stops the heartbeat and gives this node's streams up (shutdown: their publishers may come back anywhere at once). */
  async close(): Promise<void> {
    this.closed = true;
    this.timers.clearTimeout(this.beat);
    await this.beating;
    await Promise.allSettled([...this.writes.values()]);
    await Promise.allSettled(this.streams.list().map((s) => this.shared.release(s.name, this.opts.nodeId)));
  }

  /**
   * A pulled camera is one node's job: its identity names the node, so another node declaring
   * the same source is refused (and retries) instead of taking it over back and forth.
   */
  private clusterIdentity(identity: string): string {
    return identity.startsWith("source:") ? `${identity}@${this.opts.nodeId}` : identity;
  }

  private ownerRecord(stream: string, identity: string, sessionId: string, state: StreamOwner["state"], since: number): StreamOwner {
    const rtspUrl = this.opts.rtspUrl?.();
    return {
      stream, nodeId: this.opts.nodeId, url: this.opts.url(), ...(rtspUrl ? { rtspUrl } : {}),
      identity, sessionId, state, since,
    };
  }

  private toOwner(s: LiveStream): StreamOwner {
    return this.ownerRecord(s.name, this.clusterIdentity(s.identity), s.sessionId, s.state === "reconnecting" ? "reconnecting" : "live", s.stats().since);
  }

  private mirror(e: StreamLifecycle): void {
    this.admitted.delete(e.stream);
    const write = async (): Promise<void> => {
      if (e.type === "unpublished") return this.shared.release(e.stream, this.opts.nodeId);
      const held = await this.shared.update(e.stream, this.opts.nodeId, { state: e.type === "reconnecting" ? "reconnecting" : "live", sessionId: e.sessionId });
      if (held) return;
      // Not ours any more: another node took it, or the store lost it (the next beat writes it back).
      const owner = await this.shared.get(e.stream);
      if (owner && owner.nodeId !== this.opts.nodeId) this.moved(e.stream);
    };
    const prev = this.writes.get(e.stream) ?? Promise.resolve();
    const next = prev.then(write).catch((err: unknown) => this.log.warn({ err, stream: e.stream, event: e.type }, "cluster state not updated (the next heartbeat retries)"));
    this.writes.set(e.stream, next);
    void next.then(() => {
      if (this.writes.get(e.stream) === next) this.writes.delete(e.stream);
    });
  }

  private schedule(): void {
    if (this.closed) return;
    this.beat = this.timers.setTimeout(() => {
      this.beating = this.heartbeat().finally(() => {
        this.beating = undefined;
        this.schedule();
      });
    }, this.opts.heartbeatMs);
  }

  /** One beat: renew (or write back) this node's streams, end those another node took, drop stale admissions. */
  async heartbeat(): Promise<void> {
    const now = this.timers.now();
    const local = this.streams.list();
    try {
      const lost = await this.shared.heartbeat(this.opts.nodeId, local.map((s) => this.toOwner(s)));
      for (const name of lost) this.moved(name);
      for (const [name, at] of this.admitted) {
        if (this.streams.get(name) || now - at < this.opts.heartbeatMs) continue;
        this.admitted.delete(name);
        await this.shared.release(name, this.opts.nodeId);
      }
    } catch (err) {
      // Streams stay up: the store being away is no reason to cut cameras. Entries come back at the next beat.
      this.log.warn({ err, streams: local.length }, "cluster heartbeat failed");
    }
  }

  private moved(name: string): void {
    const live = this.streams.get(name);
    if (!live) return;
    this.log.info({ stream: name }, "stream taken over on another node: ending it here");
    this.streams.release(live, "moved");
  }
}
