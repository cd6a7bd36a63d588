import type { RTCPeerConnection } from "werift";

/**
 * The session resource (the `Location` of a WHIP or WHEP POST) a test client holds:
 * DELETEd at most once, and the peer closed exactly once, even when the server is gone.
 */
export class SessionResource {
  private url: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly headers: Record<string, string>,
    private readonly doFetch: typeof fetch = fetch,
  ) {}

  set(url: string): void {
    this.url = url;
  }

  /** Forgets the resource: a later close() only closes the peer (a client that lost its network never DELETEs). */
  forget(): void {
    this.url = undefined;
  }

  /** DELETE, then close the peer even when the DELETE failed; later calls share the first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.remove();
      } finally {
        await this.pc.close();
      }
    })();
    return this.closing;
  }

  private async remove(): Promise<void> {
    const target = this.url;
    if (!target) return;
    this.url = undefined;
    try {
      await (await this.doFetch(target, { method: "DELETE", headers: this.headers })).arrayBuffer();
    } catch {
      // the server under test may already be gone (kill/SIGTERM tests)
    }
  }
}
