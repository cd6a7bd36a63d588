import { createSocket, type Socket } from "node:dgram";

/** An RTP socket on an even port and its RTCP socket on the odd port above (RFC 3550 §11). */
export interface UdpPair {
  rtp: Socket;
  rtcp: Socket;
}

/**
 * Binds a pair on ephemeral ports: the kernel picks the RTP port, which must be even and have
 * its odd neighbour free; otherwise both are closed and another is drawn, `tries` times.
 * Undefined when none was found. `recvBufferBytes` > 0 sizes the RTP socket's receive buffer
 * (keyframe bursts); a kernel that refuses keeps its default.
 */
export async function bindUdpPair(family: "udp4" | "udp6", recvBufferBytes: number, tries: number): Promise<UdpPair | undefined> {
  for (let attempt = 0; attempt < tries; attempt++) {
    const rtp = createSocket(family);
    const port = await bind(rtp, 0);
    if (port === undefined || port % 2 !== 0) {
      closeQuietly(rtp);
      continue;
    }
    const rtcp = createSocket(family);
    if ((await bind(rtcp, port + 1)) === undefined) {
      closeQuietly(rtp);
      closeQuietly(rtcp);
      continue;
    }
    if (recvBufferBytes > 0) {
      try {
        rtp.setRecvBufferSize(recvBufferBytes);
      } catch {
        // The default buffer still works, with more loss in bursts.
      }
    }
    return { rtp, rtcp };
  }
  return undefined;
}

export function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // never bound, or already closed
  }
}

/** The bound port, or undefined when the port is taken. */
function bind(socket: Socket, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const onError = (): void => resolve(undefined);
    socket.once("error", onError);
    socket.bind(port, () => {
      socket.off("error", onError);
      // A late socket error (ICMP unreachable echoes) must not crash the process.
      socket.on("error", () => undefined);
      resolve(socket.address().port);
    });
  });
}
