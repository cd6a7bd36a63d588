import { Event } from "werift";

/**
 * werift 0.25.2's `Event.execute` starts an async function on every call to run the "queuing"
 * (promise) subscribers and chains a `.catch` on it, even when there are none: a closure, two
 * promises and a microtask per emit, and their garbage. With one plain subscriber an emit costs
 * 330 ns, 22 ns without that part (bench/werift-event.ts, werift-event.json). A received RTP packet passes two such events
 * (the DTLS transport's `onRtp`, then the track's `onReceiveRtp`; counted on a werift loopback).
 *
 * `execute` is an own property each Event gets in its constructor (werift's ESM bundle keeps the
 * class module-local, so no class swap reaches it), so `fastenEvent` replaces it on the events of
 * the per-packet path: plain subscribers run as werift runs them, and the async part starts only
 * when a queuing subscriber exists, doing then what werift does. `checkFastEvents` compares the
 * two on a reference sequence once per process before any event is fastened.
 */

type Args = unknown[];
interface Subscriber {
  execute: (...a: Args) => unknown;
}
interface EventInternals {
  ended: boolean;
  event: { stack: Subscriber[]; promiseStack: Subscriber[] };
  onerror: (e: unknown) => void;
  execute: (...a: Args) => void;
}

const FASTENED = Symbol.for("imageflowcanvas.werift.fastEvent");

function hasWeriftShape(ev: unknown): ev is EventInternals {
  const e = ev as Partial<EventInternals> | undefined;
  return (
    typeof e === "object" &&
    e !== null &&
    Object.prototype.hasOwnProperty.call(e, "execute") &&
    typeof e.execute === "function" &&
    typeof e.ended === "boolean" &&
    typeof e.onerror === "function" &&
    Array.isArray(e.event?.stack) &&
    Array.isArray(e.event?.promiseStack)
  );
}

/** werift's execute, without the async part when no queuing subscriber is there to run it. */
function fastExecute(self: EventInternals): (...args: Args) => void {
  const execute = (...args: Args): void => {
    if (self.ended) return;
    for (const item of self.event.stack) item.execute(...args);
    const queued = self.event.promiseStack;
    if (queued.length === 0) return;
    (async () => {
      for (const item of queued) await item.execute(...args);
    })().catch((e: unknown) => {
      self.onerror(e);
    });
  };
  Object.defineProperty(execute, FASTENED, { value: true });
  return execute;
}

/**
 * Replaces `ev.execute` with the fast one; false (nothing changed) when `ev` is not shaped as
 * werift 0.25.2's Event or the check below disagreed. Callers that read `execute` later get the
 * fast one; one that kept werift's reference keeps working, at werift's cost.
 */
export function fastenEvent(ev: unknown): boolean {
  if (checked !== true || !hasWeriftShape(ev)) return false;
  if ((ev.execute as unknown as Record<symbol, unknown>)[FASTENED]) return true;
  ev.execute = fastExecute(ev);
  return true;
}

/**
 * What an event does over a reference sequence: plain and queuing subscribers, an unsubscribe,
 * a queuing subscriber that throws (onerror), emits before and after `complete`. The same log
 * from werift's event and a fastened one means the replacement may stand in.
 */
export async function eventTrace(fasten: boolean): Promise<string[]> {
  const log: string[] = [];
  const ev = new Event<[number]>();
  const internals: unknown = ev;
  if (fasten && hasWeriftShape(internals)) internals.execute = fastExecute(internals);
  (ev as unknown as EventInternals).onerror = (e) => log.push(`onerror ${(e as Error).message}`);
  const a = ev.subscribe((n) => log.push(`a ${n}`));
  ev.execute(1);
  ev.subscribe((n) => log.push(`b ${n}`));
  const waited = ev.asPromise();
  ev.execute(2);
  log.push(`promise ${(await waited)[0]}`);
  a.unSubscribe();
  ev.execute(3);
  ev.queuingSubscribe(async (n) => {
    log.push(`q ${n}`);
    await Promise.resolve();
    throw new Error(`boom ${n}`);
  });
  ev.execute(4);
  log.push("after 4 (sync)");
  await new Promise((r) => setImmediate(r));
  ev.complete();
  ev.execute(5);
  log.push(`ended ${String(ev.ended)}`);
  return log;
}

let checked: boolean | undefined;

/**
 * Compares a fastened event with werift's own on the reference sequence (once per process);
 * `fastenEvent` does nothing until this said yes. False: werift's Event changed, keep its own.
 */
export async function checkFastEvents(): Promise<boolean> {
  if (checked !== undefined) return checked;
  if (!hasWeriftShape(new Event())) return (checked = false);
  const [want, got] = await Promise.all([eventTrace(false), eventTrace(true)]);
  checked = JSON.stringify(want) === JSON.stringify(got);
  return checked;
}
