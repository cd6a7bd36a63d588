/**
 * What RTSP readers cost the server: CPU per reader per second of video, in-process. A real
 * StreamHub carries a real libx264 720p30 stream (test fixture, 1 s GOP); N RtspReaders each
 * packetize it (1472-byte packets) and write it TCP-interleaved ($ framing) into a loopback
 * socket whose far end discards. The stream is pushed faster than real time, a frame at a time
 * (each frame waits until every reader has taken it), so CPU time / media time is the figure.
 *   npx tsx bench/rtsp-read.ts [readers=1,10,50] [seconds=10]   (--short: 1,5 readers, 3 s)
 */
import net from "node:net";
import { StreamRegistry, type SessionStats } from "../src/core/stream-registry.js";
import { describeTracks, RtspReader, type RtspReadTransport } from "../src/ingest/rtsp/read-session.js";
import { h264Fixture } from "../test/support/h264-fixtures.js";
import { listArg, machine, numArg, writeResults } from "./lib/results.js";

const readerCounts = listArg(0, [1, 10, 50], [1, 5]);
const seconds = numArg(1, 10, 3);
const FPS = 30;

const m = machine();
const units = await h264Fixture({ width: 1280, height: 720, fps: FPS, seconds: 10, gop: FPS });

// The sink: a loopback server that reads and drops everything.
const sink = net.createServer((s) => s.on("data", () => undefined));
await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
const sinkPort = (sink.address() as net.AddressInfo).port;

const stats = (): SessionStats => ({ protocol: "whip", sessionId: "bench", since: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

interface Row { readers: number; mediaSeconds: number; cpuMs: number; cpuMsPerReaderPerMediaSecond: number; packetsPerReader: number; usPerPacket: number; framesDropped: number }
const rows: Row[] = [];

// The first round warms the JIT up and is not reported.
for (const [round, n] of [readerCounts[0] ?? 1, ...readerCounts].entries()) {
  const registry = new StreamRegistry({ maxStreams: 1, readerQueueFrames: 512 });
  const stream = registry.claim("bench", "bench", { video: { codec: "h264" } }, stats);
  registry.announce(stream);
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((resolve) => {
    const s = net.connect(sinkPort, "127.0.0.1", () => resolve(s));
  })));
  const readers = sockets.map((s) => {
    const transport: RtspReadTransport = {
      sendRtp: (_i, p) => {
        if (s.writableLength > 2 * 1024 * 1024) return false;
        const head = Buffer.allocUnsafe(4);
        head[0] = 0x24;
        head[1] = 0;
        head.writeUInt16BE(p.length, 2);
        s.write(head);
        s.write(p);
        return true;
      },
      sendRtcp: () => undefined,
    };
    const r = new RtspReader(stream, describeTracks(stream), [0], transport, { queueFrames: 512, maxPacketBytes: 1472 });
    r.start();
    return r;
  });
  const frames = seconds * FPS;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < frames; i++) {
    const u = units[i % units.length] as (typeof units)[number];
    const at = 1_000_000 + (i * 1000) / FPS;
    stream.hub.publish({ kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: at, wallClockMs: at });
    await stream.hub.drain();
    // Let the sockets flush now and then, as they would in real time.
    if (i % 10 === 9) await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const packets = readers.reduce((a, r) => a + r.stats.packetsSent, 0);
  const dropped = readers.reduce((a, r) => a + r.stats.framesDropped, 0);
  for (const r of readers) r.stop();
  for (const s of sockets) s.destroy();
  registry.release(stream);
  const row: Row = {
    readers: n, mediaSeconds: seconds, cpuMs: Math.round(cpuMs),
    cpuMsPerReaderPerMediaSecond: Math.round((cpuMs / n / seconds) * 100) / 100,
    packetsPerReader: Math.round(packets / n), usPerPacket: Math.round(((cpuMs * 1000) / packets) * 100) / 100, framesDropped: dropped,
  };
  if (round === 0) continue;
  rows.push(row);
  console.log(row);
}
sink.close();
const file = await writeResults("rtsp-read", m, { note: "in-process: hub → RtspReader → TCP-interleaved loopback socket to a discarding sink; CPU of this process (packetizing, framing, socket writes)", rows });
console.log(`wrote ${file}`);
