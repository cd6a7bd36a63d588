import { describe, expect, it } from "vitest";
import { DEVICE_PERMISSIONS, deviceIdOf, devicePermissions, deviceSubject, isDeviceSubject } from "../../../../src/control/auth/device-principal.js";

describe("device principals", () => {
  it("names a device `device:<id>` and reads the id back; other subjects are not devices", () => {
    expect(deviceSubject("abc")).toBe("device:abc");
    expect(deviceIdOf("device:abc")).toBe("abc");
    expect(isDeviceSubject("admin")).toBe(false);
    expect(deviceIdOf("admin")).toBeUndefined();
  });

  it("narrows a token's grants to exactly the device grants", () => {
    expect(DEVICE_PERMISSIONS).toEqual(["inspection:create", "inspection:view", "product:search"]);
    expect(devicePermissions(["*", "system:admin", "inspection:view", "product:search", "stream:publish"])).toEqual(["inspection:view", "product:search"]);
    expect(devicePermissions([])).toEqual([]);
  });
});
