import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The built-in pages with anonymous access off: the first request a page makes answers 401,
 * the page shows its login form, the form sets the session cookie, and the page goes on. An
 * operator publishes from /publish/{stream}; a viewer, in a second page with no cookie, watches
 * /streams/{stream} over WHEP with frames decoding.
 */
let ts: TestServer;
let browser: ChromiumHandle;

beforeAll(async () => {
  ts = await startTestServer({ authAnonymousNetworks: [] });
  await ts.server.auth.userStore.add("otto", "operator", "otto-password-1234");
  await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1234");
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await ts?.stop();
});

async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.waitForSelector("#ifc-login", { timeout: 20_000 });
  await page.fill("#ifc-login-user", username);
  await page.fill("#ifc-login-password", password);
  await page.click("#ifc-login-submit");
}

interface LoginState {
  shown: number;
  loggedIn: string | null;
  error: string | null;
}
const loginState = (page: Page) => page.evaluate(() => (globalThis as unknown as { __login: LoginState }).__login);

describe("pages' login form", () => {
  it("an operator logs in and publishes; a viewer logs in on another page and plays", async () => {
    const publisher = await browser.newPage();
    await publisher.goto(`${ts.url}/publish/cam1`);
    await logIn(publisher, "otto", "otto-password-1234");
    await publisher.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 20_000 });
    expect(await loginState(publisher)).toMatchObject({ shown: 1, loggedIn: "otto", error: null });
    // HttpOnly: the page's script never sees the token
    expect(await publisher.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe("");

    // A second person: no cookie of the first.
    await browser.context.clearCookies();
    const viewer = await browser.newPage();
    await viewer.goto(`${ts.url}/streams/cam1`);
    await logIn(viewer, "vera", "wrong-password");
    await waitFor(async () => (await loginState(viewer)).error !== null, { what: "the form showing a refused login" });
    expect(await viewer.locator("#ifc-login-error").textContent()).not.toBe("");
    await viewer.fill("#ifc-login-password", "vera-password-1234");
    await viewer.click("#ifc-login-submit");
    let watch = { mode: "", state: "", frames: 0, error: null as string | null };
    await waitFor(async () => {
      watch = await viewer.evaluate(() => {
        const w = (globalThis as unknown as { __watch: { mode: string; state: string; error: string | null; framesDecoded(): number } }).__watch;
        return { mode: w.mode, state: w.state, frames: w.framesDecoded(), error: w.error };
      });
      return watch.frames > 10 || watch.error !== null;
    }, { timeoutMs: 30_000, intervalMs: 250, what: "10 frames decoded on the watch page" }).catch(() => undefined); // asserted below, with what came
    console.log(`watch page after login: ${JSON.stringify(watch)}`);
    expect(watch).toMatchObject({ mode: "whep", state: "connected", error: null });
    expect(watch.frames).toBeGreaterThan(10);
    expect(await loginState(viewer)).toMatchObject({ loggedIn: "vera", error: null });
    expect(await viewer.locator("#ifc-login").count()).toBe(0);

    await viewer.close();
    await publisher.close();
  }, 120_000);
});
