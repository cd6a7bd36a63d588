import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/**
 * The one /proc scan of the test suite (Linux): which processes exist, whose children they are
 * and what they run. Tests use it to prove that nothing they started outlives them.
 */

export interface ProcessInfo {
  pid: number;
  ppid: number;
  argv: string[];
}

/** Every process we may read, with its parent and argv (those that end while we look are skipped). */
export function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      out.push({ pid: Number(entry), ppid, argv });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Direct children of `parent` (default: this process) as pid and argv, from /proc. */
export function childProcesses(parent = process.pid): { pid: number; argv: string[] }[] {
  return processes()
    .filter((p) => p.ppid === parent)
    .map(({ pid, argv }) => ({ pid, argv }));
}

/** ffmpeg children that decode H.264 from stdin: the server's per-stream decoders. */
export function decoderPids(parent = process.pid): number[] {
  return childProcesses(parent)
    .filter((p) => /ffmpeg/.test(p.argv[0] ?? "") && p.argv.includes("pipe:0") && p.argv.includes("h264"))
    .map((p) => p.pid);
}

/** Pids of processes (other than this one) whose command line mentions `marker`, e.g. a unique profile directory. */
export function pidsWith(marker: string): number[] {
  return processes()
    .filter((p) => p.pid !== process.pid && p.argv.join("\0").includes(marker))
    .map((p) => p.pid);
}

/** Alive or a zombie: either way still in /proc (a reaped child is gone). */
export function processExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/**
 * Stops a test engine's child process: `signal` (SIGCONT first, so a frozen one can take it),
 * then SIGKILL if it lingers past `graceMs`; resolves when it has exited. A no-op when gone.
 */
export async function stopChild(c: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGCONT");
  c.kill(signal);
  const killer = setTimeout(() => c.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(killer);
}
