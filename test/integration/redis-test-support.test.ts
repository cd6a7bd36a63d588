import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { pingRedis, sharedRedis, startRunRedis } from "../support/redis-server.js";

/** The engine plumbing itself: a test that needs Redis fails loudly without one, never skips. */
describe("Redis test support", () => {
  const saved = process.env.IFC_TEST_REDIS_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.IFC_TEST_REDIS_URL;
    else process.env.IFC_TEST_REDIS_URL = saved;
  });

  it("sharedRedis() names the setup command when no Redis is configured, and the URL when it does not answer", async () => {
    delete process.env.IFC_TEST_REDIS_URL;
    await expect(sharedRedis()).rejects.toThrow(/IFC_TEST_REDIS_URL is not set.*scripts\/setup\.sh test/);
    process.env.IFC_TEST_REDIS_URL = `redis://127.0.0.1:${await freePort()}`;
    await expect(sharedRedis()).rejects.toThrow(/does not answer PING/);
  });

  it("startRunRedis() starts a server when none is configured, publishes its URL, and stops it", async () => {
    delete process.env.IFC_TEST_REDIS_URL;
    const run = await startRunRedis();
    expect(process.env.IFC_TEST_REDIS_URL).toBe(run.url);
    expect((await sharedRedis()).url).toBe(run.url);
    // a second global setup in the same run reuses it rather than starting another
    const again = await startRunRedis();
    expect(again.url).toBe(run.url);
    await again.stop();
    expect(await pingRedis(run.url)).toBe(true);
    await run.stop();
    expect(await pingRedis(run.url)).toBe(false);
    expect(process.env.IFC_TEST_REDIS_URL).toBeUndefined();
  });
});
