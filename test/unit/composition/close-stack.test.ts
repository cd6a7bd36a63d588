import { describe, expect, it } from "vitest";
import { CloseStack } from "../../../src/composition/close-stack.js";

describe("CloseStack", () => {
  it("closes newest first, each closer after the previous one settled", async () => {
    const stack = new CloseStack();
    const events: string[] = [];
    stack.push("http", () => void events.push("http"));
    stack.push("recorder", async () => {
      events.push("recorder start");
      await new Promise((r) => setImmediate(r));
      events.push("recorder end");
    });
    stack.push("worker", () => void events.push("worker"));
    await stack.close();
    expect(events).toEqual(["worker", "recorder start", "recorder end", "http"]);
    expect(stack.names).toEqual([]);
  });

  it("is idempotent: a second close (even concurrent) runs nothing again and shares the result", async () => {
    const stack = new CloseStack();
    let runs = 0;
    stack.push("one", async () => {
      runs++;
      await new Promise((r) => setImmediate(r));
    });
    const a = stack.close();
    const b = stack.close();
    expect(b).toBe(a);
    await Promise.all([a, b, stack.close()]);
    expect(runs).toBe(1);
  });

  it("a failing closer is logged, the rest still close, and close rejects naming the first failure", async () => {
    const logged: { obj: object; msg: string }[] = [];
    const stack = new CloseStack({ error: (obj, msg) => void logged.push({ obj, msg }) });
    const closed: string[] = [];
    stack.push("a", () => void closed.push("a"));
    stack.push("b", () => {
      throw new Error("b broke");
    });
    stack.push("c", () => Promise.reject(new Error("c broke")));
    stack.push("d", () => void closed.push("d"));
    await expect(stack.close()).rejects.toThrow("closing c failed: c broke (and 1 more)");
    expect(closed).toEqual(["d", "a"]);
    expect(logged.map((l) => l.obj)).toEqual([
      { err: new Error("c broke"), resource: "c" },
      { err: new Error("b broke"), resource: "b" },
    ]);
    // The same rejection for a later caller, without closing anything again.
    await expect(stack.close()).rejects.toThrow("closing c failed");
    expect(closed).toEqual(["d", "a"]);
  });

  it("refuses what is made after closing began, so nothing escapes the stop", async () => {
    const stack = new CloseStack();
    stack.push("x", () => undefined);
    const done = stack.close();
    expect(() => stack.push("late", () => undefined)).toThrow('cannot add "late": the server is closing');
    await done;
  });
});
