import path from "node:path";
import type { Config } from "../../config.js";
import { Keyring } from "./signing-keys.js";

/** Where the users file and the auth directory are, from the config (shared with the users CLI). */
export function authPaths(config: Pick<Config, "usersFile" | "authKeysDir" | "dataDir">): { usersFile: string; authDir: string; initialPasswordFile: string } {
  return {
    usersFile: config.usersFile || path.join(config.dataDir, "users.json"),
    authDir: config.authKeysDir || path.join(config.dataDir, "auth"),
    initialPasswordFile: path.join(config.dataDir, "initial-admin-password"),
  };
}

/** The keyring of the RS256 signing keys, generated on first start. */
export async function openKeyring(config: Config, now?: () => number): Promise<Keyring> {
  const keyring = new Keyring(authPaths(config).authDir, { maxTokenTtlMs: Math.max(config.authAccessTtlMs, config.authViewTokenTtlMs), ...(now ? { now } : {}) });
  await keyring.init();
  return keyring;
}

