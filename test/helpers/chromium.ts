import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { pidsWith } from "../support/process-tree.js";

export interface ChromiumHandle {
  context: BrowserContext;
  /** The fresh profile directory (removed by close()). */
  userDataDir: string;
  newPage(): Promise<Page>;
  /** Closes the browser, kills any of its processes still alive and removes the profile. */
  close(): Promise<void>;
}

export const CHROMIUM_PATH = process.env.IFC_CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--use-fake-ui-for-media-stream",
  // the fake camera runs at 20 fps unless told otherwise
  "--use-fake-device-for-media-stream=fps=30",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  // no network beyond loopback here: no first-run, update, sync or background fetches
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * Debian's Chromium (never a downloaded browser), headless, with a fake camera (30 fps) and
 * microphone, a fresh profile (playwright wants it through launchPersistentContext, not as
 * --user-data-dir) and no background networking.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<ChromiumHandle> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), "ifc-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    context,
    userDataDir,
    newPage: () => context.newPage(),
    close: () =>
      (closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          context.close().catch(() => undefined),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000))),
        ]);
        clearTimeout(timer);
        // Whatever is left of this browser (its processes carry our unique profile path).
        for (const pid of pidsWith(userDataDir)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        await rm(userDataDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
      })()),
  };
}
