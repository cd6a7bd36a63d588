import { createSocket, type RemoteInfo, type Socket } from "node:dgram";

/**
 * A UDP relay that stands between a WebRTC peer and the server and breaks the network on demand:
 * loss, delay, jitter, reordering, duplication, a full cut, and a new source address (a roaming
 * device). Every datagram (STUN, DTLS, SRTP, SRTCP) goes through it once the server's ICE
 * candidates in the answer point at it (`routeAnswer`).
 *
 * Why a relay and not `tc netem` in a network namespace: netem needs CAP_NET_ADMIN, a namespace
 * and a veth pair that CI containers often refuse, it shapes every flow on the link (the HTTP
 * control plane too), and its randomness cannot be seeded. The relay runs unprivileged, touches
 * only the flow it carries, counts what it did per direction, and replays the same faults for the
 * same seed.
 *
 * Shaped like a NAT: each client address gets its own upstream socket, so the server sees the
 * relay's upstream port as the peer's address; `rebind()` swaps those sockets for new ones.
 */

export type Direction = "up" | "down";

/** What one direction does to its datagrams. Percentages are 0–100; times are ms. */
export interface Impairment {
  lossPercent: number;
  /** Fixed one-way delay added to every datagram. */
  delayMs: number;
  /**
   * Uniform variation of the delay, ± this much (clamped at 0). Order is kept, as on a real
   * link where jitter comes from queues: a datagram never overtakes the one before it here;
   * reordering is its own knob.
   */
  jitterMs: number;
  /** Share of datagrams held back and sent right after their successor (a swap of two). */
  reorderPercent: number;
  /** Share of datagrams sent twice. */
  duplicatePercent: number;
}

export const NO_IMPAIRMENT: Readonly<Impairment> = Object.freeze({ lossPercent: 0, delayMs: 0, jitterMs: 0, reorderPercent: 0, duplicatePercent: 0 });

/** The kinds of datagram a WebRTC transport multiplexes on one port (RFC 7983 §7). */
export type DatagramKind = "stun" | "dtls" | "rtp" | "rtcp" | "other";

export interface KindCounts {
  stun: number;
  dtls: number;
  rtp: number;
  rtcp: number;
  other: number;
}

export interface DirectionCounters {
  /** Datagrams that arrived at the relay for this direction. */
  received: number;
  /** Datagrams sent on (duplicates included). */
  forwarded: number;
  /** Lost to `lossPercent`. */
  dropped: number;
  /** Lost to a cut. */
  cut: number;
  duplicated: number;
  reordered: number;
  /** Random loss by kind (the subset of `dropped` per datagram kind). */
  droppedByKind: KindCounts;
  forwardedByKind: KindCounts;
}

export interface NetRelayOptions {
  /** Seed of the PRNG behind loss, jitter, reordering and duplication (default 1). */
  seed?: number;
  /** Where the relay listens for the client, and binds its upstream sockets (default 127.0.0.1). */
  host?: string;
  /** Impairment of both directions at start (default none); `up`/`down` override it per direction. */
  impairment?: Partial<Impairment>;
  up?: Partial<Impairment>;
  down?: Partial<Impairment>;
  /** The server's address; usually learnt from the answer by `routeAnswer`. */
  target?: { address: string; port: number };
  /**
   * Longest time a datagram picked for reordering waits for a successor to overtake it; after
   * that it goes anyway (a quiet direction must not keep it forever). Default 50 ms.
   */
  reorderMaxHoldMs?: number;
  /** Receive buffer of the relay's sockets (default 4 MiB): the relay itself must not be what loses. */
  recvBufferBytes?: number;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The kind of a datagram by its first bytes (RFC 7983; RTCP by its packet type, RFC 5761 §4). */
export function datagramKind(b: Buffer): DatagramKind {
  const first = b[0] ?? 255;
  if (first <= 3) return "stun";
  if (first >= 20 && first <= 63) return "dtls";
  if (first >= 128 && first <= 191) {
    const pt = b[1] ?? 0;
    return pt >= 192 && pt <= 223 ? "rtcp" : "rtp";
  }
  return "other";
}

const zeroKinds = (): KindCounts => ({ stun: 0, dtls: 0, rtp: 0, rtcp: 0, other: 0 });
const zeroCounters = (): DirectionCounters => ({ received: 0, forwarded: 0, dropped: 0, cut: 0, duplicated: 0, reordered: 0, droppedByKind: zeroKinds(), forwardedByKind: zeroKinds() });

interface Flow {
  clientAddress: string;
  clientPort: number;
  upstream: Socket;
}

interface Queued {
  due: number;
  buf: Buffer;
  send: (buf: Buffer) => void;
  kind: DatagramKind;
}

/** One direction's shaping: loss, FIFO delay with jitter, swap-reordering, duplication. */
class Lane {
  settings: Impairment;
  readonly counters = zeroCounters();
  private readonly queue: Queued[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  private held: { item: Queued; timer: NodeJS.Timeout } | undefined;
  private closed = false;

  constructor(
    settings: Impairment,
    private readonly random: () => number,
    private readonly reorderMaxHoldMs: number,
  ) {
    this.settings = settings;
  }

  /** Takes one datagram that arrived (not cut). */
  push(buf: Buffer, send: (buf: Buffer) => void): void {
    const s = this.settings;
    const kind = datagramKind(buf);
    // Draw every random number each time, in the same order, so that a setting of one knob does
    // not shift another knob's sequence for the same seed.
    const rLoss = this.random();
    const rJitter = this.random();
    const rReorder = this.random();
    const rDup = this.random();
    if (rLoss * 100 < s.lossPercent) {
      this.counters.dropped++;
      this.counters.droppedByKind[kind]++;
      return;
    }
    const now = performance.now();
    const delay = Math.max(0, s.delayMs + (rJitter * 2 - 1) * s.jitterMs);
    // FIFO: jitter never lets a datagram overtake the previous one.
    const due = Math.max(now + delay, this.lastDue);
    this.lastDue = due;
    const item: Queued = { due, buf, send, kind };
    const dup = rDup * 100 < s.duplicatePercent;
    if (this.held) {
      // this datagram overtakes the held one, which follows right behind it
      const held = this.held.item;
      clearTimeout(this.held.timer);
      this.held = undefined;
      this.enqueue(item);
      if (dup) this.enqueueDuplicate(item);
      held.due = due;
      this.enqueue(held);
      this.counters.reordered++;
      return;
    }
    if (rReorder * 100 < s.reorderPercent) {
      const timer = setTimeout(() => {
        // nothing came to overtake it: it goes in order after all
        if (this.held?.item !== item) return;
        this.held = undefined;
        item.due = Math.max(performance.now(), this.lastDue);
        this.lastDue = item.due;
        this.enqueue(item);
      }, this.reorderMaxHoldMs);
      this.held = { item, timer };
      return;
    }
    this.enqueue(item);
    if (dup) this.enqueueDuplicate(item);
  }

  private enqueueDuplicate(item: Queued): void {
    this.counters.duplicated++;
    this.enqueue({ ...item });
  }

  private enqueue(item: Queued): void {
    if (this.closed) return;
    if (this.queue.length === 0 && item.due <= performance.now()) {
      this.deliver(item);
      return;
    }
    this.queue.push(item);
    this.arm();
  }

  private deliver(item: Queued): void {
    this.counters.forwarded++;
    this.counters.forwardedByKind[item.kind]++;
    item.send(item.buf);
  }

  /** One timer for the head of the queue; dues are non-decreasing, so the queue is in order. */
  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const head = this.queue[0] as Queued;
    this.timer = setTimeout(() => this.drain(), Math.max(0, head.due - performance.now()));
  }

  private drain(): void {
    this.timer = undefined;
    const now = performance.now();
    // timers fire up to a ms early by rounding: take what is due within half a ms
    while (this.queue.length > 0 && (this.queue[0] as Queued).due <= now + 0.5) this.deliver(this.queue.shift() as Queued);
    this.arm();
  }

  /** Nothing queued or held. */
  get idle(): boolean {
    return this.queue.length === 0 && this.held === undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.held) clearTimeout(this.held.timer);
    this.held = undefined;
    this.queue.length = 0;
  }
}

function bindSocket(host: string, recvBufferBytes: number): Promise<Socket> {
  const s = createSocket({ type: host.includes(":") ? "udp6" : "udp4", recvBufferSize: recvBufferBytes, sendBufferSize: recvBufferBytes });
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, host, () => {
      s.off("error", reject);
      // a send to a port nobody listens on (a server session gone) reports ICMP unreachable as an error
      s.on("error", () => undefined);
      resolve(s);
    });
  });
}

export class NetRelay {
  private readonly lanes: Record<Direction, Lane>;
  private readonly flows = new Map<string, Flow>();
  private target: { address: string; port: number } | undefined;
  private cutUntil: number | undefined;
  private cutForever = false;
  private cutTimer: NodeJS.Timeout | undefined;
  private cutWaiters: (() => void)[] = [];
  private closed = false;
  /** Upstream socket of the newest flow: its port is what the server sees. */
  private rebinds = 0;

  private constructor(
    private readonly listener: Socket,
    private readonly host: string,
    private readonly recvBufferBytes: number,
    opts: NetRelayOptions,
  ) {
    const seed = opts.seed ?? 1;
    const base = { ...NO_IMPAIRMENT, ...opts.impairment };
    const hold = opts.reorderMaxHoldMs ?? 50;
    this.lanes = {
      up: new Lane({ ...base, ...opts.up }, seededRandom(seed), hold),
      down: new Lane({ ...base, ...opts.down }, seededRandom(seed ^ 0x5bd1e995), hold),
    };
    this.target = opts.target;
    listener.on("message", (msg, rinfo) => this.fromClient(msg, rinfo));
  }

  static async start(opts: NetRelayOptions = {}): Promise<NetRelay> {
    const host = opts.host ?? "127.0.0.1";
    const recv = opts.recvBufferBytes ?? 4 * 1024 * 1024;
    return new NetRelay(await bindSocket(host, recv), host, recv, opts);
  }

  /** Where the client must send: the relay's listening address. */
  get address(): { address: string; port: number } {
    const a = this.listener.address();
    return { address: a.address, port: a.port };
  }

  /** The server's address the relay forwards to. */
  get serverAddress(): { address: string; port: number } | undefined {
    return this.target;
  }

  /** The source ports the server currently sees from this relay (one per client flow). */
  get upstreamPorts(): number[] {
    return [...this.flows.values()].map((f) => f.upstream.address().port);
  }

  /** Whether no datagram is waiting in the relay (delayed or held for reordering), in both directions. */
  get idle(): boolean {
    return this.lanes.up.idle && this.lanes.down.idle;
  }

  /** How many times `rebind()` ran. */
  get rebindCount(): number {
    return this.rebinds;
  }

  /** Counters of one direction (`up`: client → server). A live object: it keeps counting. */
  counters(direction: Direction): Readonly<DirectionCounters> {
    return this.lanes[direction].counters;
  }

  /** The current impairment of one direction. */
  impairment(direction: Direction): Readonly<Impairment> {
    return { ...this.lanes[direction].settings };
  }

  /** Changes the impairment at once, for one direction or both (unnamed knobs keep their value). */
  set(change: Partial<Impairment>, direction: Direction | "both" = "both"): void {
    for (const d of direction === "both" ? (["up", "down"] as const) : [direction]) {
      const lane = this.lanes[d];
      lane.settings = { ...lane.settings, ...change };
    }
  }

  /**
   * Whether an ICE check from this address came through the relay: pass it as
   * WhipPublishOptions.acceptStunFrom, or the server's checks to the client's own candidates
   * connect the two around the relay.
   */
  acceptsStunFrom(address: string, port: number): boolean {
    const me = this.address;
    return address === me.address && port === me.port;
  }

  /** Sets the server's address to forward to (also done by `routeAnswer`). */
  setTarget(address: string, port: number): void {
    this.target = { address, port };
  }

  /**
   * Rewrites an SDP answer so that the client reaches the server only through this relay: the
   * server's first usable UDP/IPv4 candidate (loopback preferred when the relay is on loopback)
   * becomes the relay's target, every candidate line for it is rewritten to the relay's address,
   * and every other candidate is removed (or the client could connect around the relay).
   * Synchronous: pass it as WhipPublishOptions.transformAnswer.
   */
  routeAnswer(sdp: string): string {
    const lines = sdp.split(/\r?\n/);
    const cands = lines
      .map((l) => /^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ \w+/i.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ address: m[1] as string, port: Number(m[2]) }))
      .filter((c) => !c.address.includes(":"));
    const loopback = this.host.startsWith("127.");
    const chosen = cands.find((c) => (loopback ? c.address.startsWith("127.") : !c.address.startsWith("127."))) ?? cands[0];
    if (!chosen) throw new Error("routeAnswer: the answer has no UDP/IPv4 candidate");
    this.setTarget(chosen.address, chosen.port);
    const me = this.address;
    const out: string[] = [];
    for (const l of lines) {
      const m = /^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ \w+)(.*)$/i.exec(l);
      if (m) {
        if (m[2] === chosen.address && Number(m[3]) === chosen.port) out.push(`${m[1]}${me.address} ${me.port}${m[4]}`);
        continue; // other candidates would bypass the relay
      }
      if (/^a=candidate:/i.test(l)) continue; // TCP or IPv6: bypasses too
      if (/^c=IN IP4 /.test(l)) {
        out.push(`c=IN IP4 ${me.address}`);
        continue;
      }
      out.push(l);
    }
    return out.join("\r\n");
  }

  /**
   * Cuts both directions: every datagram is dropped (and counted as `cut`) until `ms` have
   * passed, or until `restore()` when no time is given. Resolves when the cut ends.
   */
  cut(ms?: number): Promise<void> {
    clearTimeout(this.cutTimer);
    this.cutTimer = undefined;
    if (ms === undefined) {
      this.cutForever = true;
      this.cutUntil = undefined;
    } else {
      this.cutForever = false;
      this.cutUntil = performance.now() + ms;
      this.cutTimer = setTimeout(() => this.restore(), ms);
    }
    return new Promise((resolve) => this.cutWaiters.push(resolve));
  }

  /** Ends a cut now. */
  restore(): void {
    clearTimeout(this.cutTimer);
    this.cutTimer = undefined;
    this.cutForever = false;
    this.cutUntil = undefined;
    const waiters = this.cutWaiters;
    this.cutWaiters = [];
    for (const w of waiters) w();
  }

  get isCut(): boolean {
    return this.cutForever || (this.cutUntil !== undefined && performance.now() < this.cutUntil);
  }

  /**
   * Gives every client flow a new upstream socket (a new source port), as a device that roams to
   * another network does; the old sockets are closed, so the server's replies to the old
   * address go nowhere. Returns the new source ports.
   */
  async rebind(): Promise<number[]> {
    const ports: number[] = [];
    for (const flow of this.flows.values()) {
      const old = flow.upstream;
      flow.upstream = await this.openUpstream(flow);
      ports.push(flow.upstream.address().port);
      old.close();
    }
    this.rebinds++;
    return ports;
  }

  /** Closes every socket and drops whatever is queued. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.restore();
    this.lanes.up.close();
    this.lanes.down.close();
    const sockets = [this.listener, ...[...this.flows.values()].map((f) => f.upstream)];
    this.flows.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const lane = this.lanes.up;
    lane.counters.received++;
    const target = this.target;
    if (!target || this.closed) return;
    if (this.isCut) {
      lane.counters.cut++;
      return;
    }
    const key = `${rinfo.address}:${rinfo.port}`;
    const flow = this.flows.get(key);
    if (!flow) {
      // the first datagram of a new client waits for its socket (a STUN check: it is retried anyway)
      void this.newFlow(rinfo).then((f) => {
        if (f) lane.push(msg, (b) => this.sendUp(f, b));
      });
      return;
    }
    lane.push(msg, (b) => this.sendUp(flow, b));
  }

  private sendUp(flow: Flow, buf: Buffer): void {
    const target = this.target;
    if (this.closed || !target) return;
    flow.upstream.send(buf, target.port, target.address);
  }

  private async newFlow(rinfo: RemoteInfo): Promise<Flow | undefined> {
    const key = `${rinfo.address}:${rinfo.port}`;
    const existing = this.flows.get(key);
    if (existing) return existing;
    const flow: Flow = { clientAddress: rinfo.address, clientPort: rinfo.port, upstream: undefined as unknown as Socket };
    flow.upstream = await this.openUpstream(flow);
    if (this.closed) {
      flow.upstream.close();
      return undefined;
    }
    const raced = this.flows.get(key);
    if (raced) {
      flow.upstream.close();
      return raced;
    }
    this.flows.set(key, flow);
    return flow;
  }

  private async openUpstream(flow: Flow): Promise<Socket> {
    const s = await bindSocket(this.host, this.recvBufferBytes);
    s.on("message", (msg) => {
      // replies reach the client only through the flow's current socket: after a rebind the old
      // socket is closed, like a NAT binding that is gone
      if (flow.upstream !== s) return;
      const lane = this.lanes.down;
      lane.counters.received++;
      if (this.isCut) {
        lane.counters.cut++;
        return;
      }
      lane.push(msg, (b) => {
        if (!this.closed) this.listener.send(b, flow.clientPort, flow.clientAddress);
      });
    });
    return s;
  }
}
