/**
 * WHEP egress figures, with the server in its own process (as deployed):
 *  - time from WHEP POST to the first keyframe at the viewer (werift viewer on loopback), over
 *    sequential joins, split into POST→connected and connected→first keyframe;
 *  - server CPU per viewer: server process CPU with 0 viewers, then with N, of one 720p30 stream;
 *  - a glass-to-glass estimate over loopback: the publisher writing a frame's last packet →
 *    the viewer receiving it, frames matched by payload bytes (forwarded unchanged). Capture,
 *    encoding and decoding are outside it (ffmpeg encodes before the publisher, no decoder).
 * The viewers run in this process, on the same two cores as the server and ffmpeg: at 720p
 * ten werift viewers (≈34 µs per received packet, plus depacketizing) saturate this process
 * and lose packets in their socket buffers, which would measure the clients, not the server.
 * Hence 640x360 by default.
 * (A Chromium publisher's time to first frame is bench/whep-chromium.ts.)
 *   npx tsx bench/whep.ts [joins=12] [viewers=10] [seconds=10] [width=640] [height=360]   (--short: 4 joins, 3 viewers, 3 s)
 */
import { rm } from "node:fs/promises";
import type { RtpPacket } from "werift";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../test/helpers/whep-client.js";
import { spawnServer } from "../test/support/server-harness.js";
import { cpuMs } from "./lib/proc.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";

const joins = numArg(0, 12, 4);
const viewerCount = numArg(1, 10, 3);
const seconds = numArg(2, 10, 3);
const width = numArg(3, 640);
const height = numArg(4, 360);
const GOP_SECONDS = 1;
const m = machine();
/** A frame's identity: its last packet's payload, which the server forwards byte for byte. */
const metricAt = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
const frameKey = (p: Buffer): string => `${p.length}:${p.subarray(Math.max(0, p.length - 24)).toString("hex")}`;

// Neither recording nor the AI feed: this measures the WHEP path alone.
const server = await spawnServer({ IFC_RECORD: "false", IFC_AI_ENABLED: "false" });
const pid = server.child.pid as number;
const pub = await publishTestStream(`${server.url}/whip/bench`, {
  width, height, fps: 30, gopSeconds: GOP_SECONDS, durationSeconds: joins * 2.5 + seconds * 2 + 20, audio: true, preset: "veryfast",
});
try {
  const sentAt = new Map<string, number>();
  pub.publication.videoTrack?.onReceiveRtp.subscribe((p: RtpPacket) => {
    if (p.header.marker) sentAt.set(frameKey(p.payload), performance.timeOrigin + performance.now());
  });
  await sleep(1500);

  // 1. time to first frame, one viewer at a time
  const ttff: { connectMs: number; keyframeMs: number; totalMs: number }[] = [];
  for (let i = 0; i < joins; i++) {
    const v = await whepWatch(`${server.url}/whep/bench`, { audio: true });
    await v.waitUnits(1, 5000);
    const t = v.timings;
    const first = t.firstKeyframeAt as number;
    ttff.push({ connectMs: t.connectedAt - t.postSentAt, keyframeMs: first - t.connectedAt, totalMs: first - t.postSentAt });
    await v.close();
    // joins land at random points of the GOP
    await sleep(200 + Math.random() * 800);
  }
  const totals = ttff.map((x) => x.totalMs);
  const ttffRow = {
    "joins": joins,
    "POST→first keyframe median ms": pct(totals, 50),
    "p95 ms": pct(totals, 95),
    "POST→connected median ms": pct(ttff.map((x) => x.connectMs), 50),
    "connected→keyframe median ms": pct(ttff.map((x) => x.keyframeMs), 50),
  };

  // 2. CPU with 0 viewers, then N; 3. latency samples while N watch
  await sleep(1000);
  let before = cpuMs(pid);
  let t0 = Date.now();
  await sleep(seconds * 1000);
  const idleCpuMsPerS = ((cpuMs(pid)) - before) / ((Date.now() - t0) / 1000);

  const latencies: number[] = [];
  let sampling = false;
  const onVideoPacket = (p: RtpPacket): void => {
    if (!sampling || !p.header.marker) return;
    const at = sentAt.get(frameKey(p.payload));
    if (at !== undefined) latencies.push(performance.timeOrigin + performance.now() - at);
  };
  const viewers: WhepViewer[] = [];
  for (let i = 0; i < viewerCount; i++) viewers.push(await whepWatch(`${server.url}/whep/bench`, { audio: true, onVideoPacket }));
  await sleep(2000); // all past their first keyframe
  sampling = true;
  const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();
  before = cpuMs(pid);
  t0 = Date.now();
  const unitsBefore = viewers.reduce((k, v) => k + v.units.length, 0);
  await sleep(seconds * 1000);
  const wallS = (Date.now() - t0) / 1000;
  const busyCpuMsPerS = ((cpuMs(pid)) - before) / wallS;
  sampling = false;
  const metricsAfter = await (await fetch(`${server.url}/metrics`)).text();
  const units = viewers.reduce((k, v) => k + v.units.length, 0) - unitsBefore;
  const lost = viewers.reduce((k, v) => k + v.depacketizer.packetsLost, 0);
  await Promise.all(viewers.map((v) => v.close()));
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const metric = (name: string): number => metricAt(metrics, name);

  const cpuRow = {
    "viewers": viewerCount,
    "server CPU ms/s, 0 viewers": round(idleCpuMsPerS),
    [`server CPU ms/s, ${viewerCount} viewers`]: round(busyCpuMsPerS),
    "CPU per viewer, % of a core": round(((busyCpuMsPerS - idleCpuMsPerS) / viewerCount / 1000) * 100, 2),
    "frames/s per viewer": round(units / viewerCount / wallS),
    "packets lost at viewers": lost,
    "server packets/s per viewer": Math.round((metricAt(metricsAfter, "ifc_whep_packets_sent_total") - metricAt(metricsBefore, "ifc_whep_packets_sent_total")) / viewerCount / wallS),
  };
  const latencyRow = {
    "frames matched": latencies.length,
    "publisher send → viewer receipt median ms": round(pct(latencies, 50), 2),
    "p95 ms": round(pct(latencies, 95), 2),
    "max ms": round(max(latencies), 2),
  };
  const kbps = Math.round((pub.stats.videoBytes * 8) / (pub.stats.videoFrames / 30) / 1000);
  console.log(`WHEP bench: server pid ${pid}, one ${width}x${height}@30 stream (libx264 veryfast, ≈${kbps} kbit/s, ${GOP_SECONDS} s GOP, ignores PLI) + Opus, werift viewers on loopback`);
  console.table([ttffRow]);
  console.table([cpuRow]);
  console.table([latencyRow]);
  console.log(`server counters: packets sent ${metric("ifc_whep_packets_sent_total")}, dropped ${metric("ifc_whep_packets_dropped_total")}, keyframe requests ${metric("ifc_whep_keyframe_requests_total")} (+${metric("ifc_whep_keyframe_requests_coalesced_total")} coalesced)`);
  console.log(`wrote ${await writeResults("whep", m, {
    stream: { width, height, fps: 30, gopSeconds: GOP_SECONDS, videoKbps: kbps }, timeToFirstFrame: ttffRow, joinsMs: ttff, cpu: cpuRow, glassToGlass: latencyRow,
  })}`);
} finally {
  await pub.stop();
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}
