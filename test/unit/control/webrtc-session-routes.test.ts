import { describe, expect, it } from "vitest";
import { iceServerLinks } from "../../../src/control/webrtc-session-routes.js";

describe("ICE server Link headers (RFC 9725 §4.6)", () => {
  it("formats STUN and TURN entries", () => {
    expect(iceServerLinks(["stun:s:3478", "turns:t:5349"], "user", "pass")).toEqual([
      '<stun:s:3478>; rel="ice-server"',
      '<turns:t:5349>; rel="ice-server"; username="user"; credential="pass"; credential-type="password"',
    ]);
  });
});
