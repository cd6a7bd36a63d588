import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { Logger } from "pino";
import type { FrameSplitter } from "./frame-splitter.js";

export interface DecoderProcessOptions {
  ffmpegPath: string;
  args: string[];
  splitter: FrameSplitter;
  log: Logger;
  /** Bytes queued on stdin above which `canWrite` says no (the caller then drops to the next IDR). */
  maxStdinBytes: number;
  /** stderr lines logged (debug) per process; the rest are counted, the last few kept for the exit log. */
  maxLoggedStderrLines?: number;
  onFrame(data: Buffer): void;
  /** ffmpeg reported a unit it could not decode: no frame will come for it. */
  onDecodeError(line: string): void;
  /** The process ended; `requested` when stop() asked it to. Called once. */
  onExit(info: { code: number | null; signal: NodeJS.Signals | null; requested: boolean; error?: Error; stderrTail: string[] }): void;
}

// fftools prints this when a packet yields no frame; "corrupt decoded frame" (concealed) still yields one.
const DECODE_ERROR = /Error while decoding stream/;

/**
 * One ffmpeg child: access units in on stdin, frames out on stdout. A thin `spawn` on purpose:
 * fluent-ffmpeg builds a command line well but wraps stdin/stdout as a single input/output
 * stream with its own buffering and 'end' semantics, and gives no per-write backpressure signal
 * or pid handling we could rely on for frame-accurate, long-lived pipes.
 */
export class DecoderProcess {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private requested = false;
  private exitedFlag = false;
  private readonly stderrTail: string[] = [];
  private stderrLogged = 0;
  private stderrPartial = "";
  private killTimer: NodeJS.Timeout | undefined;
  readonly exited: Promise<void>;
  readonly startedAtMs = Date.now();

  constructor(private readonly o: DecoderProcessOptions) {
    this.child = spawn(o.ffmpegPath, o.args, { stdio: ["pipe", "pipe", "pipe"] });
    let resolveExited!: () => void;
    this.exited = new Promise((r) => (resolveExited = r));
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
      if (this.exitedFlag) return;
      this.exitedFlag = true;
      if (this.killTimer) clearTimeout(this.killTimer);
      o.onExit({ code, signal, requested: this.requested, ...(error ? { error } : {}), stderrTail: [...this.stderrTail] });
      resolveExited();
    };
    // 'close' (not 'exit'): stdout is fully read by then, so no frame is lost after the exit report.
    this.child.once("close", (code, signal) => finish(code, signal));
    this.child.once("error", (err) => finish(null, null, err)); // e.g. ENOENT: no 'close' may follow
    // EPIPE when ffmpeg dies with writes pending: the exit is reported above; never an uncaught error.
    this.child.stdin.on("error", () => undefined);
    this.child.stdout.on("data", (chunk: Buffer) => o.splitter.push(chunk, o.onFrame));
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => this.stderr(s));
  }

  get pid(): number | undefined {
    return this.exitedFlag ? undefined : this.child.pid;
  }

  get stdinQueuedBytes(): number {
    return this.child.stdin.writableLength;
  }

  /** Whether a write now would stay under the stdin bound (a slow or stuck ffmpeg never grows memory). */
  canWrite(): boolean {
    return !this.exitedFlag && !this.requested && this.child.stdin.writable && this.child.stdin.writableLength < this.o.maxStdinBytes;
  }

  /** Queues bytes for stdin; never waits. */
  write(data: Buffer): void {
    this.child.stdin.write(data);
  }

  /**
   * Ends the process. `flush`: close stdin and let ffmpeg output what it holds (end of stream),
   * killing it only after `graceMs`; otherwise terminate now (its output is unwanted).
   */
  stop(flush: boolean, graceMs = 2000): Promise<void> {
    if (!this.requested && !this.exitedFlag) {
      this.requested = true;
      this.child.stdin.end();
      if (!flush) {
        this.child.stdout.removeAllListeners("data");
        this.child.stdout.resume(); // drain, so a blocked write in ffmpeg cannot keep it alive
        this.child.kill("SIGTERM");
      }
      this.killTimer = setTimeout(() => this.child.kill("SIGKILL"), flush ? graceMs : 500);
      this.killTimer.unref();
    }
    return this.exited;
  }

  private stderr(s: string): void {
    const text = this.stderrPartial + s;
    const lines = text.split(/\r?\n|\r/);
    this.stderrPartial = (lines.pop() ?? "").slice(-4096); // bounded even without newlines
    const max = this.o.maxLoggedStderrLines ?? 100;
    for (const raw of lines) {
      const line = raw.trim();
      if (!line) continue;
      this.stderrTail.push(line.slice(0, 500));
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      if (this.stderrLogged < max) this.o.log.debug({ pid: this.child.pid, line: line.slice(0, 500) }, "ffmpeg");
      else if (this.stderrLogged === max) this.o.log.debug({ pid: this.child.pid }, "ffmpeg: further stderr lines not logged");
      this.stderrLogged++;
      if (!this.requested && DECODE_ERROR.test(line)) this.o.onDecodeError(line);
    }
  }
}
