import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real engines (Kafka) shared by every test file of the run, started once in the background.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Media tests spawn ffmpeg, werift peers and Chromium: on 2 cores running them in parallel
    // only makes them flaky, so files run one at a time.
    fileParallelism: false,
    pool: "forks",
    reporters: ["default"],
  },
});
