import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./free-port.js";
import { stopChild } from "./process-tree.js";
import { waitFor } from "./wait-for.js";

export interface PostgresServer {
  /** postgres://ifc@127.0.0.1:<port>/postgres (trust auth on loopback: a test server only). */
  url: string;
  stop(): Promise<void>;
}

const SETUP_HINT = 'run "bash scripts/setup.sh test" (it installs Debian\'s postgresql)';

/** Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<major>/bin. */
function binDir(): string {
  if (process.env.IFC_TEST_PG_BINDIR) return process.env.IFC_TEST_PG_BINDIR;
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, "bin", "postgres"))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error(`no PostgreSQL server under ${root}: ${SETUP_HINT}`);
  return path.join(root, majors[0]!, "bin");
}

/** PostgreSQL refuses to run as root: as root, its processes run as Debian's `postgres` user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync("id", ["-u", "postgres"]).stdout.toString().trim());
  const gid = Number(spawnSync("id", ["-g", "postgres"]).stdout.toString().trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`no "postgres" user to run the server as: ${SETUP_HINT}`);
  return { uid, gid };
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh PostgreSQL cluster on 127.0.0.1 and a free port, without durability (tests own it). */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-pg-"));
  const user = serverUser();
  if (user) await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o700);
  const data = path.join(dir, "data");
  const init = spawnSync(path.join(bin, "initdb"), ["-D", data, "-U", "ifc", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"], { encoding: "utf8", ...user });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
  const port = await freePort();
  const url = `postgres://ifc@127.0.0.1:${port}/postgres`;
  // Durability off: a test cluster that dies is thrown away, and fsync costs seconds per run.
  const args = [
    "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir,
    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
  ];
  let output = "";
  const child: ChildProcess = spawn(path.join(bin, "postgres"), args, { stdio: ["ignore", "pipe", "pipe"], ...user });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  let failed: Error | undefined;
  child.once("error", (e) => (failed = e));
  try {
    await waitFor(
      async () => {
        if (failed) throw new Error(`cannot start postgres (${failed.message}): ${SETUP_HINT}`);
        if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${output.slice(-2000)}`);
        return answers(url);
      },
      { timeoutMs: 30_000, intervalMs: 50, what: "postgres answering SELECT 1" },
    );
  } catch (err) {
    await stopChild(child, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    stop: async () => {
      // SIGINT = PostgreSQL's fast shutdown (SIGTERM waits for clients to leave).
      await stopChild(child, "SIGINT");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A database of its own on the run-wide PostgreSQL (IFC_TEST_DATABASE_URL, set by the global
 * setup). Fails loudly when there is none: a test needing PostgreSQL never skips.
 */
export async function sharedPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.IFC_TEST_DATABASE_URL;
  if (!base) throw new Error(`IFC_TEST_DATABASE_URL is not set: the test run's global setup starts PostgreSQL (${SETUP_HINT}), or point it at a running server`);
  if (!(await answers(base))) throw new Error(`IFC_TEST_DATABASE_URL=${base} does not answer`);
  const name = `ifc_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** For the run's global setup: uses IFC_TEST_DATABASE_URL when it answers, else starts a server. */
export async function startRunPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const configured = process.env.IFC_TEST_DATABASE_URL;
  if (configured) {
    if (!(await answers(configured))) throw new Error(`IFC_TEST_DATABASE_URL=${configured} does not answer`);
    return { url: configured, stop: async () => undefined };
  }
  const server = await startPostgres();
  process.env.IFC_TEST_DATABASE_URL = server.url;
  return {
    url: server.url,
    stop: async () => {
      await server.stop();
      if (process.env.IFC_TEST_DATABASE_URL === server.url) delete process.env.IFC_TEST_DATABASE_URL;
    },
  };
}
