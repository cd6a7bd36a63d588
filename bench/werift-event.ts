/**
 * What one werift Event emit costs with one plain subscriber, werift 0.25.2's own `execute`
 * against the fastened one (src/rtc/werift-fast-events.ts), which skips the async part when no
 * queuing subscriber exists. A received RTP packet passes two such events. Median of rounds of
 * 1M emits each, in this process.
 *   npx tsx bench/werift-event.ts [rounds=7]   (--short: 3 rounds of 200k)
 */
import { Event } from "werift";
import { checkFastEvents, fastenEvent } from "../src/rtc/werift-fast-events.js";
import { machine, numArg, SHORT, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const ROUNDS = numArg(0, 7, 3);
const EMITS = SHORT ? 200_000 : 1_000_000;
const m = machine();

if (!(await checkFastEvents())) throw new Error("werift's Event differs from the one the fast execute was checked against");

/** ns per emit over EMITS emits (after a warm-up of the same event). */
function perEmit(ev: Event<[number]>): number {
  let sum = 0;
  ev.subscribe((n) => {
    sum += n;
  });
  for (let i = 0; i < 100_000; i++) ev.execute(1);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < EMITS; i++) ev.execute(1);
  const ns = Number(process.hrtime.bigint() - t0) / EMITS;
  if (sum <= 0) throw new Error("the subscriber never ran");
  return ns;
}

const werift: number[] = [];
const fast: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  werift.push(perEmit(new Event<[number]>()));
  // Let werift's queued microtasks and their garbage go before the next round.
  await new Promise((resolve) => setImmediate(resolve));
  const ev = new Event<[number]>();
  if (!fastenEvent(ev)) throw new Error("fastenEvent refused a werift Event");
  fast.push(perEmit(ev));
  await new Promise((resolve) => setImmediate(resolve));
}
const rows = [
  { execute: "werift 0.25.2", "ns per emit (median)": round(median(werift), 1), rounds: werift.map((x) => round(x, 0)).join(" / ") },
  { execute: "fastened (no async part)", "ns per emit (median)": round(median(fast), 1), rounds: fast.map((x) => round(x, 0)).join(" / ") },
];
console.log(`werift Event.execute, one plain subscriber, ${EMITS} emits per round, ${ROUNDS} rounds`);
console.table(rows);
console.log(`wrote ${await writeResults("werift-event", m, { emitsPerRound: EMITS, rounds: ROUNDS, rows, ratio: round((median(werift) ?? 0) / (median(fast) ?? 1), 1) })}`);
