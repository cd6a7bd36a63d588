import type { Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import type { RTCPeerConnection } from "werift";
import { udpSockets } from "./werift-internals.js";

/**
 * UDP receive buffers of werift's sockets. werift never sizes them, and the kernel default
 * (~208 KiB, 0.6 s at 3 Mbit/s) overflows in a keyframe burst when the event loop is busy: the
 * server's socket, not the network, then drops packets (issue 12).
 */

export interface RecvBufferResult {
  requested: number;
  /** What the kernel granted, as it counts it (Linux reports twice the usable size). */
  granted: number;
  /** The kernel gave less than asked (Linux: net.core.rmem_max). */
  capped: boolean;
}

export type SocketWarn = (obj: Record<string, unknown>, msg: string) => void;

let cappedWarned = false;
const sized = new WeakSet<Socket>();
/** Peers whose sockets were sized and are not closed yet, for the process-wide drop count. */
const livePeers = new Set<RTCPeerConnection>();

/** Linux doubles the requested value for bookkeeping overhead and reports the doubled figure. */
const KERNEL_FACTOR = process.platform === "linux" ? 2 : 1;

/**
 * Requests `bytes` of receive buffer on one socket and reads back what was granted.
 * 0 leaves the kernel default.
 */
export function sizeRecvBuffer(socket: Socket, bytes: number): RecvBufferResult | undefined {
  if (bytes <= 0) return undefined;
  try {
    socket.setRecvBufferSize(bytes);
    const granted = socket.getRecvBufferSize();
    return { requested: bytes, granted, capped: granted < bytes * KERNEL_FACTOR };
  } catch {
    // Not bound yet, or already closed: nothing to size.
    return undefined;
  }
}

/**
 * Sizes every UDP socket of a peer (each once; ICE restarts re-use the sockets). When the
 * kernel caps the size, warns once per process with the sysctl that lifts the cap.
 */
export function sizePeerRecvBuffers(pc: RTCPeerConnection, bytes: number, warn?: SocketWarn): RecvBufferResult[] {
  const results: RecvBufferResult[] = [];
  if (!livePeers.has(pc)) {
    livePeers.add(pc);
    const sub = pc.connectionStateChange.subscribe((st) => {
      if (st !== "closed") return;
      livePeers.delete(pc);
      sub.unSubscribe();
    });
  }
  if (bytes <= 0) return results;
  for (const s of udpSockets(pc)) {
    if (sized.has(s)) continue;
    sized.add(s);
    const r = sizeRecvBuffer(s, bytes);
    if (!r) continue;
    results.push(r);
    if (r.capped && !cappedWarned) {
      cappedWarned = true;
      warn?.(
        { requestedBytes: r.requested, grantedBytes: Math.floor(r.granted / KERNEL_FACTOR) },
        `UDP receive buffer capped by the kernel: packets may be dropped at the socket under load; raise it with \`sysctl -w net.core.rmem_max=${r.requested}\` (IFC_RTC_RECV_BUFFER_BYTES)`,
      );
    }
  }
  return results;
}

/** For tests: forget that the capped warning was given. */
export function resetCappedWarning(): void {
  cappedWarned = false;
}

/** Receive-queue drops per local UDP port, from /proc/net/udp and udp6 (Linux only). */
export type UdpDropTable = Map<number, number>;

/**
 * Parses /proc/net/udp{,6}: `sl local_address rem_address st tx_queue rx_queue tr tm->when
 * retrnsmt uid timeout inode ref pointer drops`. Read once per scrape or stats call, never per
 * packet. Undefined off Linux (or without /proc).
 */
export function readUdpDrops(files: readonly string[] = ["/proc/net/udp", "/proc/net/udp6"]): UdpDropTable | undefined {
  const table: UdpDropTable = new Map();
  let found = false;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    found = true;
    parseUdpTable(text, table);
  }
  return found ? table : undefined;
}

/** Adds one /proc/net/udp text's drops into `table`, keyed by local port. */
export function parseUdpTable(text: string, table: UdpDropTable = new Map()): UdpDropTable {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i]?.trim().split(/\s+/);
    if (!cols || cols.length < 13) continue;
    const local = cols[1] ?? "";
    const port = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    const drops = Number(cols[cols.length - 1]);
    if (!Number.isFinite(port) || !Number.isFinite(drops)) continue;
    table.set(port, (table.get(port) ?? 0) + drops);
  }
  return table;
}

/** Local ports of a peer's UDP sockets. */
export function peerLocalPorts(pc: RTCPeerConnection): number[] {
  const ports: number[] = [];
  for (const s of udpSockets(pc)) {
    try {
      ports.push(s.address().port);
    } catch {
      // closed
    }
  }
  return ports;
}

/**
 * Packets the kernel dropped on a session's sockets because their receive buffer was full.
 * Pass a table read once (readUdpDrops) when asking for many sessions. Undefined off Linux.
 */
export function peerSocketDrops(pc: RTCPeerConnection, table: UdpDropTable | undefined = readUdpDrops()): number | undefined {
  if (!table) return undefined;
  let sum = 0;
  for (const port of peerLocalPorts(pc)) sum += table.get(port) ?? 0;
  return sum;
}

/**
 * Socket drops summed over every live WebRTC session of the process (one /proc read), for
 * `ifc_rtc_socket_drops_total`. A session's drops leave the sum when it closes (a counter reset
 * to Prometheus). Undefined off Linux.
 */
export function liveSocketDrops(): number | undefined {
  const table = readUdpDrops();
  if (!table) return undefined;
  let sum = 0;
  for (const pc of livePeers) sum += peerSocketDrops(pc, table) ?? 0;
  return sum;
}
