import type { Server } from "node:net";

/**
 * Caps open connections per client address: a connection past the cap is destroyed at once,
 * before a byte of it is read, so one host cannot hold every socket of the server (slowloris).
 * Counts TCP connections, so it works the same under HTTP and HTTPS.
 */
export function capConnectionsPerClient(server: Server, maxPerClient: number, onRefused?: (client: string) => void): { open(client: string): number } {
  const open = new Map<string, number>();
  server.on("connection", (socket) => {
    const client = socket.remoteAddress ?? "unknown";
    const n = (open.get(client) ?? 0) + 1;
    if (n > maxPerClient) {
      onRefused?.(client);
      socket.destroy();
      return;
    }
    open.set(client, n);
    socket.once("close", () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left <= 0) open.delete(client);
      else open.set(client, left);
    });
  });
  return { open: (client) => open.get(client) ?? 0 };
}
