/**
 * Sessions the ICE UDP range IFC_RTC_PORT_MIN..MAX holds, shared by WHIP publishers and WHEP
 * viewers: each session binds ports of the range, and werift silently binds outside a used-up
 * range (past the firewall), so a session that would not fit is refused up front instead.
 */
export class RtcPortBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** No range configured: werift picks ephemeral ports and nothing needs counting. */
  static unlimited(): RtcPortBudget {
    return new RtcPortBudget(Number.MAX_SAFE_INTEGER);
  }

  static forRange(portMin: number, portMax: number, portsPerSession: number): RtcPortBudget {
    return new RtcPortBudget(Math.floor((portMax - portMin + 1) / portsPerSession));
  }

  get inUse(): number {
    return this.used;
  }

  /** Claims one session's ports: returns their release (safe to call twice), or undefined when the range is used up. */
  tryClaim(): (() => void) | undefined {
    if (this.used >= this.capacity) return undefined;
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
    };
  }
}
