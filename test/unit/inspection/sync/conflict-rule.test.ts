import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decideChange } from "../../../../src/inspection/sync/conflict-rule.js";

describe("the offline-sync conflict rule", () => {
  it("applies a change made against the server's revision, at revision + 1", () => {
    expect(decideChange("upsert", 4, { revision: 4, deleted: false })).toEqual({ action: "update", nextRevision: 5 });
    expect(decideChange("delete", 4, { revision: 4, deleted: false })).toEqual({ action: "soft-delete", nextRevision: 5 });
    // A row deleted at the revision the device saw comes back with the device's upsert.
    expect(decideChange("upsert", 4, { revision: 4, deleted: true })).toEqual({ action: "update", nextRevision: 5 });
    expect(decideChange("delete", 4, { revision: 4, deleted: true })).toEqual({ action: "noop" });
  });

  it("keeps as a conflict a change against an older revision, a newer one, or no base on an existing row", () => {
    expect(decideChange("upsert", 3, { revision: 4, deleted: false })).toEqual({ action: "conflict", serverRevision: 4 });
    expect(decideChange("delete", 3, { revision: 4, deleted: false })).toEqual({ action: "conflict", serverRevision: 4 });
    expect(decideChange("upsert", 5, { revision: 4, deleted: false })).toEqual({ action: "conflict", serverRevision: 4 });
    expect(decideChange("upsert", null, { revision: 1, deleted: false })).toEqual({ action: "conflict", serverRevision: 1 });
  });

  it("creates a row new to the server; a delete of an absent row is a no-op; an edit of an absent row is a conflict", () => {
    expect(decideChange("upsert", null, undefined)).toEqual({ action: "insert" });
    expect(decideChange("delete", 2, undefined)).toEqual({ action: "noop" });
    expect(decideChange("upsert", 2, undefined)).toEqual({ action: "conflict", serverRevision: null });
  });

  it("never overwrites: a write happens only when base equals the server's revision, and always moves it by one", () => {
    fc.assert(fc.property(
      fc.constantFrom("upsert" as const, "delete" as const),
      fc.option(fc.integer({ min: 1, max: 50 }), { nil: null }),
      fc.option(fc.record({ revision: fc.integer({ min: 1, max: 50 }), deleted: fc.boolean() }), { nil: undefined }),
      (op, base, server) => {
        const d = decideChange(op, base, server);
        if (d.action === "update" || d.action === "soft-delete") {
          expect(server).toBeDefined();
          expect(base).toBe(server!.revision);
          expect(d.nextRevision).toBe(server!.revision + 1);
        }
        if (server && base !== server.revision) expect(d.action).toBe("conflict");
      },
    ));
  });
});
