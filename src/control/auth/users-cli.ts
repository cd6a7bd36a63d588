import { ConfigError, loadConfig } from "../../config.js";
import { authPaths, openKeyring } from "./auth-paths.js";
import { DomainError } from "../../core/errors.js";
import { generatePassword } from "./password.js";
import { UserStore } from "./user-store.js";

export const USAGE = `usage: npm run users -- <command>
  add <name> --role admin|operator|viewer [--password <pw> | --password-stdin] [--grant <perm>]...
  list
  disable <name>
  enable <name>
  remove <name>
  passwd <name> [--password <pw> | --password-stdin]
  role <name> admin|operator|viewer
  rotate-key
Without a password one is generated and printed once. Reads IFC_DATA_DIR / IFC_USERS_FILE /
IFC_AUTH_KEYS_DIR like the server. Exit codes: 0 done, 1 refused (unknown user, name taken…),
2 usage or configuration error.`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** All of standard input (for --password-stdin). */
  stdin(): Promise<string>;
}

class UsageError extends Error {}

/** Takes `--name value` (repeatable) out of args. */
function takeFlag(args: string[], name: string): string[] {
  const values: string[] = [];
  for (let i = args.indexOf(`--${name}`); i >= 0; i = args.indexOf(`--${name}`)) {
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
    values.push(v);
    args.splice(i, 2);
  }
  return values;
}

function takeSwitch(args: string[], name: string): boolean {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}

/**
 * The users CLI: add, list, disable, enable, passwd, role, rotate-key, on the same files the
 * server uses. A running server sees user changes within a second and a rotated key at its next
 * signature check (it rereads the key directory when it changes).
 */
export async function runUsersCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const args = [...argv];
  try {
    const config = loadConfig(env);
    const role = takeFlag(args, "role");
    const passwordFlag = takeFlag(args, "password");
    const fromStdin = takeSwitch(args, "password-stdin");
    const grantsFlag = takeFlag(args, "grant");
    const [command, ...rest] = args;
    const unknown = rest.find((a) => a.startsWith("--"));
    if (unknown) throw new UsageError(`unknown option ${unknown}`);
    const password = async (): Promise<{ value: string; generated: boolean }> => {
      if (passwordFlag.length > 1 || (passwordFlag.length > 0 && fromStdin)) throw new UsageError("give one password");
      if (fromStdin) return { value: (await io.stdin()).replace(/\r?\n$/, ""), generated: false };
      return passwordFlag[0] !== undefined ? { value: passwordFlag[0], generated: false } : { value: generatePassword(), generated: true };
    };
    const name = (): string => {
      if (rest.length !== 1 && !(command === "role" && rest.length === 2)) throw new UsageError(`${command} takes a user name`);
      return rest[0]!;
    };

    if (command === "rotate-key") {
      const keyring = await openKeyring(config);
      const kid = await keyring.rotate();
      io.out(`new signing key ${kid}; older public keys stay valid until their tokens expire (${keyring.kids().length} kept)`);
      return 0;
    }

    const paths = authPaths(config);
    const users = new UserStore(paths.usersFile);
    const { initialAdminPassword } = await users.init(paths.initialPasswordFile);
    if (initialAdminPassword !== undefined) io.err(`first use: created user admin with password ${initialAdminPassword} (also in ${paths.initialPasswordFile})`);

    switch (command) {
      case "add": {
        const user = name();
        if (role.length !== 1) throw new UsageError("add needs one --role admin|operator|viewer");
        const pw = await password();
        const u = await users.add(user, role[0]!, pw.value, grantsFlag);
        io.out(`added ${u.username} (${u.role}${u.grants.length ? `, ${u.grants.join(" ")}` : ""})`);
        if (pw.generated) io.out(`password: ${pw.value}`);
        return 0;
      }
      case "list": {
        if (rest.length > 0) throw new UsageError("list takes no arguments");
        const rows = users.list();
        const width = Math.max(8, ...rows.map((u) => u.username.length));
        io.out(`${"USER".padEnd(width)}  ${"ROLE".padEnd(8)}  ${"STATE".padEnd(8)}  GRANTS`);
        for (const u of rows) io.out(`${u.username.padEnd(width)}  ${u.role.padEnd(8)}  ${(u.disabled ? "disabled" : "active").padEnd(8)}  ${u.grants.join(" ")}`);
        return 0;
      }
      case "disable":
      case "enable": {
        const u = await users.setDisabled(name(), command === "disable");
        io.out(`${u.username} ${u.disabled ? "disabled" : "enabled"}`);
        return 0;
      }
      case "remove": {
        const u = await users.remove(name());
        io.out(`${u.username} removed`);
        return 0;
      }
      case "passwd": {
        const user = name();
        const pw = await password();
        await users.setPassword(user, pw.value);
        io.out(`password of ${user} changed`);
        if (pw.generated) io.out(`password: ${pw.value}`);
        return 0;
      }
      case "role": {
        if (rest.length !== 2) throw new UsageError("role takes a user name and a role");
        const u = await users.setRole(rest[0]!, rest[1]!);
        io.out(`${u.username} is now ${u.role}`);
        return 0;
      }
      default:
        throw new UsageError(command ? `unknown command "${command}"` : "no command");
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(`configuration error: ${err.message}`);
      return 2;
    }
    if (err instanceof DomainError) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
