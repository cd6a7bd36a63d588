/**
 * MediaMTX as the reference server of bench/ingest-cost.ts (issue 17: "at most 1.0x MediaMTX
 * measured side by side"). Its binary is built outside this repository and named by
 * MEDIAMTX_BIN; its configuration is written here at run time into a temp dir (with the
 * recordings), so no MediaMTX file lives in the repository. Configured as our server runs in the
 * bench: WebRTC on loopback, recording on (fMP4, parts and segments as given), the protocols the
 * bench does not use off, the control API on loopback for its inbound RTP counters.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { rmSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { probeStreams } from "../../test/support/recording-probe.js";
import { pollFor } from "./results.js";

const run = promisify(execFile);

export interface MediamtxOptions {
  bin: string;
  /** Start it under `taskset -c <core>` (from exec, so the Go runtime sizes GOMAXPROCS to the pin). */
  core?: number;
  partSeconds: number;
  segmentSeconds: number;
}

export interface Mediamtx {
  pid: number;
  version: string;
  whipUrl(stream: string): string;
  whepUrl(stream: string): string;
  /** RTP counters of the WebRTC session publishing `stream` (undefined while there is none). */
  inbound(stream: string): Promise<{ packets: number; lost: number } | undefined>;
  /** Whether the path is gone: MediaMTX closes a path's recorder (synchronously) before it drops the path. */
  pathClosed(stream: string): Promise<boolean>;
  /** Video frames in every fMP4 segment recorded for `stream` (ffprobe -count_packets per file). */
  framesRecorded(stream: string): Promise<number>;
  /** Files recorded for `stream`. */
  recordings(stream: string): Promise<string[]>;
  output(): string;
  /** SIGTERM, SIGKILL after 5 s; removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL at once and the temp dir removed (for signal handlers: synchronous). */
  kill(): void;
}

/** A port the kernel has just handed out (closed again; the server binds it right after). */
async function freePort(kind: "tcp" | "udp"): Promise<number> {
  if (kind === "udp") {
    const s = createSocket("udp4");
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === "string") throw new Error("no TCP port");
  return addr.port;
}

function config(o: { apiPort: number; httpPort: number; udpPort: number; recordDir: string; partSeconds: number; segmentSeconds: number }): string {
  const q = (s: string): string => JSON.stringify(s); // a JSON string is a YAML scalar
  return [
    "# written by bench/ingest-cost.ts for one run",
    "logLevel: info",
    "logDestinations: [stdout]",
    "api: true",
    `apiAddress: ${q(`127.0.0.1:${o.apiPort}`)}`,
    "metrics: false",
    "pprof: false",
    "playback: false",
    "rtsp: false",
    "rtmp: false",
    "hls: false",
    "srt: false",
    "moq: false",
    "webrtc: true",
    `webrtcAddress: ${q(`127.0.0.1:${o.httpPort}`)}`,
    // One UDP socket for every session (MediaMTX's mux), on loopback; only lo's address is offered.
    `webrtcLocalUDPAddress: ${q(`127.0.0.1:${o.udpPort}`)}`,
    'webrtcLocalTCPAddress: ""',
    "webrtcIPsFromInterfaces: true",
    "webrtcIPsFromInterfacesList: [lo]",
    "webrtcAdditionalHosts: []",
    "webrtcICEServers2: []",
    "pathDefaults:",
    "  record: true",
    `  recordPath: ${q(path.join(o.recordDir, "%path", "%Y-%m-%d_%H-%M-%S-%f"))}`,
    "  recordFormat: fmp4",
    `  recordPartDuration: ${o.partSeconds}s`,
    `  recordSegmentDuration: ${o.segmentSeconds}s`,
    "  recordDeleteAfter: 0s",
    "paths:",
    "  all_others:",
    "",
  ].join("\n");
}

export async function startMediamtx(opts: MediamtxOptions): Promise<Mediamtx> {
  const version = (await run(opts.bin, ["--version"])).stdout.trim();
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-mediamtx-"));
  const recordDir = path.join(dir, "recordings");
  const [apiPort, httpPort, udpPort] = [await freePort("tcp"), await freePort("tcp"), await freePort("udp")];
  const confFile = path.join(dir, "mediamtx.yml");
  await writeFile(confFile, config({ apiPort, httpPort, udpPort, recordDir, partSeconds: opts.partSeconds, segmentSeconds: opts.segmentSeconds }));
  const argv = [opts.bin, confFile];
  const child: ChildProcess = opts.core === undefined
    ? spawn(opts.bin, [confFile], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    : spawn("taskset", ["-c", String(opts.core), ...argv], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const kill = (): void => {
    if (!gone) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async (): Promise<void> => {
    if (!gone) {
      child.kill("SIGTERM");
      const timer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const api = `http://127.0.0.1:${apiPort}/v3`;
  const http = `http://127.0.0.1:${httpPort}`;
  try {
    // Up once both the API and the WebRTC listener answer (any status).
    await pollFor("MediaMTX listening", async () => {
      if (gone) throw new Error(`MediaMTX exited at start:\n${out}`);
      try {
        await (await fetch(`${api}/paths/list`)).arrayBuffer();
        await (await fetch(`${http}/`)).arrayBuffer();
        return true;
      } catch {
        return undefined;
      }
    }, 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const recordings = async (stream: string): Promise<string[]> => {
    const d = path.join(recordDir, stream);
    const files = await readdir(d).catch(() => [] as string[]);
    return files.filter((f) => f.endsWith(".mp4")).sort().map((f) => path.join(d, f));
  };
  return {
    pid: child.pid as number,
    version,
    whipUrl: (s) => `${http}/${s}/whip`,
    whepUrl: (s) => `${http}/${s}/whep`,
    inbound: async (s) => {
      const res = await fetch(`${api}/webrtcsessions/list?itemsPerPage=1000`);
      if (res.status !== 200) throw new Error(`GET /v3/webrtcsessions/list: ${res.status}`);
      const body = (await res.json()) as { items: { path: string; state: string; inboundRTPPackets: number; inboundRTPPacketsLost: number }[] };
      const x = body.items.find((i) => i.path === s && i.state === "publish");
      return x ? { packets: x.inboundRTPPackets, lost: x.inboundRTPPacketsLost } : undefined;
    },
    pathClosed: async (s) => {
      const res = await fetch(`${api}/paths/get/${encodeURIComponent(s)}`);
      await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 404) throw new Error(`GET /v3/paths/get/${s}: ${res.status}`);
      return res.status === 404;
    },
    recordings,
    framesRecorded: async (s) => {
      let frames = 0;
      for (const f of await recordings(s)) frames += Number((await probeStreams(f)).find((x) => x.codec_type === "video")?.nb_read_packets ?? 0);
      return frames;
    },
    output: () => out,
    stop,
    kill,
  };
}
