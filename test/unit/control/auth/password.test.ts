import { describe, expect, it } from "vitest";
import { DummyHash, generatePassword, hashPassword, isPasswordHash, passwordProblem, verifyPassword } from "../../../../src/control/auth/password.js";
import { TEST_SCRYPT } from "../../../support/auth-fixture.js";

describe("password hashes", () => {
  it("are self-describing scrypt strings that verify only the right password", async () => {
    const h = await hashPassword("correct horse", TEST_SCRYPT);
    expect(h).toMatch(/^scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(isPasswordHash(h)).toBe(true);
    expect(await verifyPassword("correct horse", h)).toBe(true);
    expect(await verifyPassword("correct hors", h)).toBe(false);
    expect(await verifyPassword("", h)).toBe(false);
  });

  it("salt each hash", async () => {
    expect(await hashPassword("same password", TEST_SCRYPT)).not.toBe(await hashPassword("same password", TEST_SCRYPT));
  });

  it("verify with the parameters stored in the hash (cost can change later)", async () => {
    const h = await hashPassword("pw-at-cost-2048", { N: 2048, r: 4, p: 1 });
    expect(await verifyPassword("pw-at-cost-2048", h)).toBe(true);
  });

  it("a malformed hash never verifies and never throws", async () => {
    for (const bad of ["", "plain", "scrypt$N=1000,r=8,p=1$YWJj$YWJj", "scrypt$N=1024,r=8,p=1$YWJj$YWJj", "bcrypt$2a$..."]) {
      expect(await verifyPassword("x", bad)).toBe(false);
    }
  });

  it("an over-long password fails even when its first KiB matches", async () => {
    const long = "a".repeat(1024);
    const h = await hashPassword(long, TEST_SCRYPT);
    expect(await verifyPassword(long, h)).toBe(true);
    expect(await verifyPassword(long + "b", h)).toBe(false);
  });

  it("the dummy hash of unknown users always fails", async () => {
    const d = new DummyHash(TEST_SCRYPT);
    expect(await d.burn("anything")).toBe(false);
    expect(await d.burn("")).toBe(false);
  });

  it("generated passwords are long and random; weak ones are refused", () => {
    const a = generatePassword();
    expect(a.length).toBeGreaterThanOrEqual(24);
    expect(a).not.toBe(generatePassword());
    expect(passwordProblem("short")).toMatch(/at least 8/);
    expect(passwordProblem("x".repeat(1025))).toMatch(/at most/);
    expect(passwordProblem("long enough")).toBeUndefined();
  });
});
