import { stat } from "node:fs/promises";
import { Conflict, InvalidInput, NotFound } from "../../core/errors.js";
import { readJsonIfExists, SerialQueue, writeFileAtomic, writeJsonAtomic } from "./atomic-file.js";
import { DEFAULT_SCRYPT, generatePassword, hashPassword, isPasswordHash, passwordProblem, type ScryptParams } from "./password.js";
import { isGrant, isRole, ROLE_PERMISSIONS, type Role } from "./permissions.js";

/** A user as stored in the users file. */
export interface UserRecord {
  username: string;
  role: Role;
  /** Grants beyond the role's (e.g. `stream:publish:line1-*`). */
  grants: string[];
  disabled: boolean;
  password_hash: string;
  created_at: string;
  updated_at: string;
}

/** A user as shown (CLI, REST): never the hash. */
export type UserView = Omit<UserRecord, "password_hash">;

export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function assertUsername(name: string): void {
  if (!USERNAME.test(name)) throw new InvalidInput("invalid-username", `user name "${name.slice(0, 80)}" must match [A-Za-z0-9][A-Za-z0-9._@-]{0,63}`);
}

function assertPassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new InvalidInput("invalid-password", problem);
}

function assertRole(role: string): asserts role is Role {
  if (!isRole(role)) throw new InvalidInput("invalid-role", `role "${role.slice(0, 40)}" must be one of admin, operator, viewer`);
}

function assertGrants(grants: readonly string[]): void {
  const bad = grants.find((g) => !isGrant(g));
  if (bad !== undefined) throw new InvalidInput("invalid-grant", `grant "${bad.slice(0, 80)}" is not a permission string (resource:action[:pattern] or *)`);
}

/** The role's permissions and the user's extra grants. */
export function userPermissions(user: Pick<UserRecord, "role" | "grants">): string[] {
  return [...new Set([...ROLE_PERMISSIONS[user.role], ...user.grants])];
}

export function viewOf(u: UserRecord): UserView {
  const { password_hash: _hash, ...view } = u;
  return view;
}

export interface UserStoreOptions {
  /** scrypt cost (tests lower it). */
  scrypt?: ScryptParams;
  now?: () => number;
  /** How often a read checks whether another process (the users CLI) changed the file. */
  recheckMs?: number;
}

export interface UserChange {
  role?: string;
  disabled?: boolean;
  password?: string;
  grants?: string[];
}

/**
 * The users file (`IFC_USERS_FILE`, default `<data>/users.json`): one JSON document, rewritten
 * atomically with mode 0600. The server and the users CLI both write it, so every change
 * rereads the file first, and reads notice a newer file within `recheckMs` (a user disabled
 * from the CLI is refused by the running server within a second).
 */
export class UserStore {
  private users = new Map<string, UserRecord>();
  private mtimeMs = -1;
  private checkedAt = 0;
  private readonly writes = new SerialQueue();
  private readonly scrypt: ScryptParams;
  private readonly now: () => number;
  private readonly recheckMs: number;

  constructor(readonly file: string, opts: UserStoreOptions = {}) {
    this.scrypt = opts.scrypt ?? DEFAULT_SCRYPT;
    this.now = opts.now ?? Date.now;
    this.recheckMs = opts.recheckMs ?? 1000;
  }

  /**
   * Loads the file. On the very first start (no file) creates `admin` with a random password,
   * writes it to `initialPasswordFile` (0600) and returns it, for the caller to log once.
   */
  async init(initialPasswordFile: string): Promise<{ initialAdminPassword?: string }> {
    return this.writes.run(async () => {
      if (await this.load()) return {};
      const password = generatePassword();
      const at = new Date(this.now()).toISOString();
      this.users.set("admin", { username: "admin", role: "admin", grants: [], disabled: false, password_hash: await hashPassword(password, this.scrypt), created_at: at, updated_at: at });
      await writeFileAtomic(initialPasswordFile, password + "\n");
      await this.save();
      return { initialAdminPassword: password };
    });
  }

  list(): UserView[] {
    return [...this.users.values()].sort((a, b) => a.username.localeCompare(b.username)).map(viewOf);
  }

  /** The user as last read (no file check): for listings. */
  peek(username: string): UserRecord | undefined {
    return this.users.get(username);
  }

  /** The user, rereading the file when another process may have changed it. */
  async get(username: string): Promise<UserRecord | undefined> {
    if (this.now() - this.checkedAt >= this.recheckMs) {
      this.checkedAt = this.now();
      await this.writes.run(() => this.load()).catch(() => undefined); // a broken file keeps the last good copy
    }
    return this.users.get(username);
  }

  async add(username: string, role: string, password: string, grants: string[] = []): Promise<UserView> {
    assertUsername(username);
    assertRole(role);
    assertPassword(password);
    assertGrants(grants);
    const hash = await hashPassword(password, this.scrypt);
    return this.change(() => {
      if (this.users.has(username)) throw new Conflict("user-exists", `user "${username}" already exists`);
      const at = new Date(this.now()).toISOString();
      const u: UserRecord = { username, role, grants: [...new Set(grants)], disabled: false, password_hash: hash, created_at: at, updated_at: at };
      this.users.set(username, u);
      return u;
    });
  }

  async update(username: string, change: UserChange): Promise<UserView> {
    if (change.role !== undefined) assertRole(change.role);
    if (change.password !== undefined) assertPassword(change.password);
    if (change.grants !== undefined) assertGrants(change.grants);
    const hash = change.password !== undefined ? await hashPassword(change.password, this.scrypt) : undefined;
    return this.change(() => {
      const u = this.users.get(username);
      if (!u) throw new NotFound("user-not-found", `no user "${username.slice(0, 80)}"`);
      const staysAdmin = (change.role ?? u.role) === "admin" && !(change.disabled ?? u.disabled);
      if (u.role === "admin" && !u.disabled && !staysAdmin && ![...this.users.values()].some((o) => o !== u && o.role === "admin" && !o.disabled)) {
        // Nobody could administer users or keys any more (short of editing the file by hand).
        throw new Conflict("last-admin", `"${username}" is the last active admin; make another admin first`);
      }
      if (change.role !== undefined) u.role = change.role as Role;
      if (change.disabled !== undefined) u.disabled = change.disabled;
      if (change.grants !== undefined) u.grants = [...new Set(change.grants)];
      if (hash !== undefined) u.password_hash = hash;
      u.updated_at = new Date(this.now()).toISOString();
      return u;
    });
  }

  /** Deletes the user (CLI only); their tokens stop working at the next request. */
  async remove(username: string): Promise<UserView> {
    return this.change(() => {
      const u = this.users.get(username);
      if (!u) throw new NotFound("user-not-found", `no user "${username.slice(0, 80)}"`);
      if (u.role === "admin" && !u.disabled && ![...this.users.values()].some((o) => o !== u && o.role === "admin" && !o.disabled)) {
        throw new Conflict("last-admin", `"${username}" is the last active admin; make another admin first`);
      }
      this.users.delete(username);
      return u;
    });
  }

  setDisabled(username: string, disabled: boolean): Promise<UserView> {
    return this.update(username, { disabled });
  }
  setPassword(username: string, password: string): Promise<UserView> {
    return this.update(username, { password });
  }
  setRole(username: string, role: string): Promise<UserView> {
    return this.update(username, { role });
  }

  private change(mutate: () => UserRecord): Promise<UserView> {
    return this.writes.run(async () => {
      await this.load();
      const u = mutate();
      await this.save();
      return viewOf(u);
    });
  }

  /** Reads the file when it changed since the last read; false when there is no file. */
  private async load(): Promise<boolean> {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.file)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    if (mtimeMs === this.mtimeMs) return true;
    const doc = await readJsonIfExists(this.file);
    if (doc === undefined) return false;
    this.users = parseUsers(doc, this.file);
    this.mtimeMs = mtimeMs;
    return true;
  }

  private async save(): Promise<void> {
    await writeJsonAtomic(this.file, { version: 1, users: [...this.users.values()] });
    this.mtimeMs = (await stat(this.file)).mtimeMs;
  }
}

function parseUsers(doc: unknown, file: string): Map<string, UserRecord> {
  const list = (doc as { users?: unknown }).users;
  if (!Array.isArray(list)) throw new Error(`${file}: expected {"users": [...]}`);
  const out = new Map<string, UserRecord>();
  for (const raw of list as Partial<UserRecord>[]) {
    const name = String(raw.username);
    if (!USERNAME.test(name) || !isRole(String(raw.role)) || typeof raw.password_hash !== "string" || !isPasswordHash(raw.password_hash)) {
      throw new Error(`${file}: user "${name.slice(0, 80)}" is malformed (username, role or password_hash)`);
    }
    const grants = Array.isArray(raw.grants) ? raw.grants.map(String) : [];
    if (!grants.every(isGrant)) throw new Error(`${file}: user "${name}" has a malformed grant`);
    out.set(name, {
      username: name,
      role: raw.role as Role,
      grants,
      disabled: raw.disabled === true,
      password_hash: raw.password_hash,
      created_at: String(raw.created_at ?? ""),
      updated_at: String(raw.updated_at ?? ""),
    });
  }
  return out;
}
