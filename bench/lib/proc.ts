/**
 * CPU time and child processes from Linux /proc: the benchmarks measure the server and its
 * ffmpeg decoders from outside, as an operator's tools would.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on every architecture's ABI. */
const CLK_TCK = 100;

/** Fields of /proc/<pid>/stat after the parenthesised command name (which may hold spaces). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU time (user + system, ms) a process has used so far; 0 if it has exited. */
export function cpuMs(pid: number): number {
  try {
    const f = statFields(pid);
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after the name
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Direct children of `parent` as pid and argv. */
export function childProcesses(parent: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) !== parent) continue; // field 4: ppid
      out.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean) });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The server's per-stream decoders: ffmpeg children reading H.264 from stdin. */
export function decoderPids(parent: number): number[] {
  return childProcesses(parent)
    .filter((p) => /ffmpeg/.test(p.argv[0] ?? "") && p.argv.includes("pipe:0"))
    .map((p) => p.pid);
}

/**
 * CPU of a changing set of processes (decoders restart), sampled while they live: a process
 * gone from /proc at the end still counts with its last reading.
 */
export class ProcessCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  sample(pids: readonly number[]): void {
    for (const pid of pids) {
      const ms = cpuMs(pid);
      if (ms === 0 && !this.last.has(pid)) continue;
      if (!this.first.has(pid)) this.first.set(pid, ms);
      this.last.set(pid, Math.max(ms, this.last.get(pid) ?? 0));
    }
  }
  /** CPU used since each process was first sampled. */
  get sinceFirstMs(): number {
    let n = 0;
    for (const [pid, ms] of this.last) n += ms - (this.first.get(pid) ?? ms);
    return n;
  }
  /** CPU used over each process's whole life (as last sampled). */
  get totalMs(): number {
    return [...this.last.values()].reduce((a, b) => a + b, 0);
  }
  get processes(): number {
    return this.last.size;
  }
}

/** Resident set size (bytes) of a process from /proc/<pid>/status; 0 if it has exited. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The soft limit on open files of a process (from /proc/<pid>/limits); Infinity when unlimited. */
export function openFilesLimit(pid: number | "self" = "self"): number {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  return !m || m[1] === "unlimited" ? Infinity : Number(m[1]);
}

/** Socket inodes a process holds open (from the links in /proc/<pid>/fd). */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) out.add(m[1]);
      } catch {
        // closed while we looked
      }
    }
  } catch {
    // the process has exited
  }
  return out;
}

/**
 * Datagrams the kernel dropped on each UDP socket of a process (receive buffer full), by socket
 * inode, from the `drops` column of /proc/net/udp and udp6. Sample it while sockets live: a
 * closed socket's count is gone.
 */
export function udpDrops(pid: number): Map<string, number> {
  const mine = socketInodes(pid);
  const out = new Map<string, number>();
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const inode = f[9];
      if (inode && mine.has(inode)) out.set(inode, Number(f[12] ?? 0));
    }
  }
  return out;
}

/**
 * CPU time (ms) of a process's threads grouped by thread name (/proc/<pid>/task/<tid>/stat), the
 * process's first thread as "main", split in user and system time.
 */
export function threadCpu(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const key = tid === String(pid) ? "main" : name;
      const cur = out.get(key) ?? { user: 0, sys: 0 };
      cur.user += (Number(f[11]) * 1000) / CLK_TCK;
      cur.sys += (Number(f[12]) * 1000) / CLK_TCK;
      out.set(key, cur);
    } catch {
      // the thread ended while we looked
    }
  }
  return out;
}
