import { readdirSync, readFileSync } from "node:fs";

/** Direct children of `parent` (default: this process) as pid and argv, from /proc. */
export function childProcesses(parent = process.pid): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      out.push({ pid: Number(entry), argv });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** ffmpeg children that decode H.264 from stdin: the server's per-stream decoders. */
export function decoderPids(parent = process.pid): number[] {
  return childProcesses(parent)
    .filter((p) => /ffmpeg/.test(p.argv[0] ?? "") && p.argv.includes("pipe:0") && p.argv.includes("h264"))
    .map((p) => p.pid);
}
