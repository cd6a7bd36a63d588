/**
 * Which node owns which live stream, over every node of a cluster: one publisher per stream
 * cluster-wide. In memory on one node (the embedded default); in Redis when several nodes share
 * it. Entries live `ttlMs` (an implementation option) unless their node's heartbeat renews them,
 * so a node that dies loses its streams within the TTL and the camera's next publish to any node
 * takes them over. Callers are publish handlers and a periodic heartbeat, never the media path.
 */
export interface StreamOwner {
  stream: string;
  /** The owning node's id (IFC_NODE_ID). */
  nodeId: string;
  /** Base URL clients reach the owner at (its IFC_PUBLIC_URL): WHEP/RTSP-read redirects, DELETE routing. */
  url: string;
  /** rtsp:// base of the owner (RTSP readers are redirected there); absent when it serves no RTSP. */
  rtspUrl?: string;
  /** The publisher's identity (StreamRegistry's Publisher.identity): the same one may take the stream over; another is refused. */
  identity: string;
  /** The publisher session now carrying the stream. */
  sessionId: string;
  state: "live" | "reconnecting";
  /** Epoch ms of the stream's first claim (kept across takeovers, so the stream keeps its age). */
  since: number;
}

export type ClaimResult =
  /** Nobody held the stream (or its entry had expired): it is the caller's now. */
  | { outcome: "claimed" }
  /** The caller's node already held it (a re-POST or ICE restart on the same node). */
  | { outcome: "renewed" }
  /** Another node or session of the same identity held it: it is the caller's now; `previous` must end. */
  | { outcome: "taken-over"; previous: StreamOwner }
  /** Another identity holds it: the publish gets 409. */
  | { outcome: "refused"; holder: StreamOwner };

export interface SessionRegistry {
  /** Atomically claims `owner.stream` unless another identity holds it (see ClaimResult). */
  claim(owner: StreamOwner): Promise<ClaimResult>;
  /**
   * Changes the state or session of a stream `nodeId` holds and renews its TTL; false when the
   * node no longer holds it (it expired and another node claimed it).
   */
  update(stream: string, nodeId: string, patch: Partial<Pick<StreamOwner, "state" | "sessionId">>): Promise<boolean>;
  /**
   * The node's heartbeat: renews the TTL of each stream in `owners` (all held by `nodeId`) and
   * writes back any whose entry vanished (the store restarted empty) unless another node holds
   * it now. Returns the streams the node has lost to another node: it must end them.
   */
  heartbeat(nodeId: string, owners: readonly StreamOwner[]): Promise<string[]>;
  /** Gives the stream up if `nodeId` still holds it (unpublished); a no-op otherwise. */
  release(stream: string, nodeId: string): Promise<void>;
  get(stream: string): Promise<StreamOwner | undefined>;
  /** Every live or reconnecting stream of the cluster (unexpired entries), by name. */
  list(): Promise<StreamOwner[]>;
  close(): Promise<void>;
}
