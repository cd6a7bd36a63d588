import { describe, expect, it } from "vitest";
import { grants, grantsUnscoped, isGrant, isRole, PERMISSIONS, ROLE_PERMISSIONS } from "../../../../src/control/auth/permissions.js";

describe("permissions", () => {
  it("admin's * grants every permission on every stream", () => {
    for (const p of PERMISSIONS) {
      expect(grants(ROLE_PERMISSIONS.admin, p)).toBe(true);
      expect(grants(ROLE_PERMISSIONS.admin, p, "any-stream")).toBe(true);
      expect(grantsUnscoped(ROLE_PERMISSIONS.admin, p)).toBe(true);
    }
  });

  it("operator has the media and design permissions and system:view, not system:admin", () => {
    for (const p of ["stream:publish", "stream:view", "stream:control", "recording:view", "recording:control", "recording:export", "system:view", "pipeline:execute", "inspection:create"] as const) {
      expect(grants(ROLE_PERMISSIONS.operator, p, "cam1")).toBe(true);
    }
    expect(grants(ROLE_PERMISSIONS.operator, "system:admin")).toBe(false);
  });

  it("viewer only views", () => {
    const allowed = PERMISSIONS.filter((p) => grants(ROLE_PERMISSIONS.viewer, p, "cam1"));
    expect(allowed.sort()).toEqual(["inspection:view", "pipeline:view", "product:search", "recording:view", "stream:view"]);
  });

  it("a scoped grant matches its glob and only it", () => {
    const g = ["stream:view:line1-*"];
    expect(grants(g, "stream:view", "line1-a")).toBe(true);
    expect(grants(g, "stream:view", "line1-")).toBe(true);
    expect(grants(g, "stream:view", "line2-a")).toBe(false);
    expect(grants(g, "stream:view", "xline1-a")).toBe(false);
    expect(grants(g, "recording:view", "line1-a")).toBe(false);
    // Over all streams (a listing) a scoped grant passes; the route filters per item.
    expect(grants(g, "stream:view")).toBe(true);
    expect(grantsUnscoped(g, "stream:view")).toBe(false);
  });

  it("globs with several stars and an exact name", () => {
    expect(grants(["stream:view:a*b*c"], "stream:view", "aXXbYYc")).toBe(true);
    expect(grants(["stream:view:a*b*c"], "stream:view", "acb")).toBe(false);
    expect(grants(["stream:view:a*a"], "stream:view", "a")).toBe(false);
    expect(grants(["stream:view:cam1"], "stream:view", "cam1")).toBe(true);
    expect(grants(["stream:view:cam1"], "stream:view", "cam10")).toBe(false);
    expect(grants(["stream:view:*"], "stream:view", "anything")).toBe(true);
  });

  it("an action does not match another action's prefix", () => {
    expect(grants(["stream:view"], "stream:publish", "cam1")).toBe(false);
    expect(grants(["recording:view"], "recording:control")).toBe(false);
    expect(grants([], "stream:view")).toBe(false);
  });

  it("grant and role syntax", () => {
    for (const ok of ["*", "stream:view", "stream:view:line1-*", "recording:control:cam_1.x"]) expect(isGrant(ok)).toBe(true);
    for (const bad of ["", "stream", "stream:", "Stream:view", "stream:view:a/b", "stream:view:", "**", "stream:view:a b"]) expect(isGrant(bad)).toBe(false);
    expect(isRole("viewer")).toBe(true);
    expect(isRole("root")).toBe(false);
  });
});
