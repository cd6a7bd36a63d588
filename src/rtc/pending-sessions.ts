/**
 * WHIP and WHEP sessions not connected yet, counted per client address. An offer costs the
 * server ICE ports and a PeerConnection until ICE connects or the connect timeout ends it, so
 * one address holding many unconnected sessions could starve the ICE budget without ever
 * sending media: past `maxPerClient` its offers are refused (429) until one connects or ends.
 */
export class PendingSessions {
  private readonly byClient = new Map<string, number>();

  constructor(readonly maxPerClient: number) {}

  /** Counts one pending session of `client`: returns its release (safe to call twice), or undefined at the limit. */
  tryClaim(client: string): (() => void) | undefined {
    const n = this.byClient.get(client) ?? 0;
    if (n >= this.maxPerClient) return undefined;
    this.byClient.set(client, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left <= 0) this.byClient.delete(client);
      else this.byClient.set(client, left);
    };
  }

  pendingOf(client: string): number {
    return this.byClient.get(client) ?? 0;
  }
}
