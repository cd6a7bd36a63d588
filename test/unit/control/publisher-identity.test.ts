import { describe, expect, it } from "vitest";
import type { Principal } from "../../../src/control/auth/principal.js";
import { publisherIdentity } from "../../../src/control/publisher-identity.js";

const p = (kind: Principal["kind"], subject: string, extra: Partial<Principal> = {}): Principal => ({ kind, subject, permissions: ["stream:publish"], client: "10.0.0.1", ...extra });

describe("publisherIdentity: who may resume or take over a stream", () => {
  it("anonymous callers from the same anonymous network are one identity, whatever their address; another network is another", () => {
    const lan = publisherIdentity(p("anonymous", "anonymous", { network: "10.0.0.0/8" }));
    expect(publisherIdentity(p("anonymous", "anonymous", { client: "10.0.0.99", network: "10.0.0.0/8" }))).toBe(lan);
    expect(publisherIdentity(p("anonymous", "anonymous", { client: "192.168.1.5", network: "192.168.0.0/16" }))).not.toBe(lan);
    // no gate in front (tests of the ingest alone): one anonymous
    expect(publisherIdentity(undefined)).toBe("anonymous");
  });

  it("a user, an external subject and a publish key are each themselves, and never each other", () => {
    const ids = [
      publisherIdentity(p("user", "ada")),
      publisherIdentity(p("user", "bob")),
      publisherIdentity(p("external", "ada")),
      publisherIdentity(p("publish-key", "key k1", { credentialId: "k1" })),
      publisherIdentity(p("publish-key", "key k2", { credentialId: "k2" })),
      publisherIdentity(p("anonymous", "anonymous")),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    // the same user from another address (a roaming device) is the same identity
    expect(publisherIdentity(p("user", "ada", { client: "192.0.2.7" }))).toBe(ids[0]);
    // a publish key is named by its id, not its label
    expect(publisherIdentity(p("publish-key", "renamed", { credentialId: "k1" }))).toBe(ids[3]);
  });
});
