import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

/**
 * `setup.sh test` installs aiortc through scripts/setup-aiortc.sh; by the time tests run it has
 * run once, so running it again must do nothing: no output, the venv left as it was.
 */
describe("scripts/setup-aiortc.sh", () => {
  it("is a no-op when the pinned aiortc is already installed", async () => {
    const venv = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "imageflowcanvas", "venv-aiortc");
    await run("bash", ["scripts/setup-aiortc.sh"], { cwd: root, timeout: 300_000 }); // installs if the suite's setup did not
    const before = await stat(path.join(venv, "versions"));
    const again = await run("bash", ["scripts/setup-aiortc.sh"], { cwd: root, timeout: 30_000 });
    expect(again.stdout + again.stderr).toBe("");
    expect((await stat(path.join(venv, "versions"))).mtimeMs).toBe(before.mtimeMs);
    const { stdout } = await run(path.join(venv, "bin", "python"), ["-c", "import aiortc, av; print(aiortc.__version__, av.__version__)"], { timeout: 30_000 });
    const env = await run("bash", ["-c", ". scripts/versions.env && echo $PIP_AIORTC_VERSION $PIP_AV_VERSION"], { cwd: root });
    expect(stdout.trim()).toBe(env.stdout.trim());
  }, 320_000);
});
