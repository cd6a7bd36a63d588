import type { Logger } from "pino";
import { ClusterNode } from "../cluster/cluster-node.js";
import { StreamStatsExchange, type StreamFigures } from "../cluster/stream-stats-exchange.js";
import type { Config } from "../config.js";
import type { RemoteStreamEntry } from "../control/rest-routes.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { EventBus } from "../ports/event-bus.js";
import type { SessionRegistry, StreamOwner } from "../ports/session-registry.js";
import type { CloseStack } from "./close-stack.js";
import { nodeIdOf } from "./state.js";

/** What the HTTP routes need of the cluster. */
export interface HttpCluster {
  nodeId: string;
  /** The owner's base URL when another node owns `stream`. */
  ownerUrl(stream: string): Promise<string | undefined>;
  /** Its rtsp:// base, for RTSP readers. */
  ownerRtspUrl(stream: string): Promise<string | undefined>;
  /** Streams other nodes own, as REST entries. */
  remote(): Promise<RemoteStreamEntry[]>;
  remoteOne(stream: string): Promise<RemoteStreamEntry | undefined>;
  /** Another node's latest `stream_stats` figures of `stream`. */
  remoteWsStats(stream: string): Record<string, unknown> | undefined;
}

export interface BuiltCluster {
  node: ClusterNode;
  view: HttpCluster;
  /** Starts the heartbeat and the figures exchange once the node's address is known (after listen). */
  start(address: { url: string; rtspUrl?: string }, local: () => Iterable<[string, StreamFigures]>): void;
}

/**
 * This node in the cluster: the claim gate and heartbeat over the shared stream registry, and
 * (with a shared bus) the exchange of stream figures. On one node with the embedded defaults it
 * is the same code over an in-memory registry, so every publish takes the same path.
 */
export function buildCluster(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry; owners: SessionRegistry; bus: EventBus }): BuiltCluster {
  const nodeId = nodeIdOf(config);
  const address = { url: "", rtspUrl: undefined as string | undefined };
  const node = new ClusterNode(deps.owners, deps.registry, {
    nodeId, url: () => address.url, rtspUrl: () => address.rtspUrl,
    heartbeatMs: Math.max(100, Math.floor(config.registryTtlMs / 3)),
  }, logger.child({ component: "cluster", node: nodeId }));
  node.install();
  stack.push("cluster registry", async () => {
    await node.close();
    await deps.owners.close();
  });
  // Only a bus other nodes read carries figures worth telling (Kafka); in-process, nobody else listens.
  let exchange: StreamStatsExchange | undefined;
  const remoteEntry = (o: StreamOwner): RemoteStreamEntry => {
    const heard = exchange?.get(o.stream);
    if (heard && heard.node === o.nodeId) return { ...(heard.rest as Omit<RemoteStreamEntry, "node">), node: o.nodeId };
    // The owner has not told its figures yet (it claimed the stream a moment ago): what the registry knows.
    return {
      name: o.stream, node: o.nodeId, protocol: "unknown", state: o.state, reconnects: 0, since: new Date(o.since).toISOString(), recording: false,
      bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0, viewers: 0, readers: [],
    };
  };
  const elsewhere = async (stream: string): Promise<StreamOwner | undefined> => node.ownerElsewhere(stream);
  const view: HttpCluster = {
    nodeId,
    ownerUrl: async (stream) => (await elsewhere(stream))?.url,
    ownerRtspUrl: async (stream) => (await elsewhere(stream))?.rtspUrl,
    remote: async () => (await node.list()).filter((o) => o.nodeId !== nodeId).map(remoteEntry),
    remoteOne: async (stream) => {
      const o = await elsewhere(stream);
      return o ? remoteEntry(o) : undefined;
    },
    remoteWsStats: (stream) => exchange?.get(stream)?.ws,
  };
  return {
    node,
    view,
    start: (addr, local) => {
      address.url = addr.url;
      address.rtspUrl = addr.rtspUrl;
      node.start();
      if (config.eventBus === "memory") return;
      exchange = new StreamStatsExchange(deps.bus, { nodeId, intervalMs: config.wsStatsIntervalMs, local });
      exchange.start();
      const ex = exchange;
      stack.push("cluster figures", async () => ex.close());
    },
  };
}
