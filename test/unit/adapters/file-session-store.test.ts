import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FileSessionStore } from "../../../src/control/auth/session-store.js";
import { sessionStoreContract } from "../../contract/session-store.contract.js";
import { manualTime } from "../../contract/time-control.js";

sessionStoreContract(
  "file",
  async () => {
    const time = manualTime();
    const dir = await mkdtemp(path.join(tmpdir(), "ifc-sessions-"));
    const store = new FileSessionStore(path.join(dir, "sessions.json"), time.now);
    return {
      store,
      peer: store,
      time,
      cleanup: async () => {
        await store.flush();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  3_600_000,
);
