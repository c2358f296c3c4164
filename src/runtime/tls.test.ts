import { expect, test } from "bun:test";
import { certificateIdentities, identityMatches } from "./tls.ts";

test("a certificate's identities are its CN and its SANs as node:tls lists them", () => {
  expect(certificateIdentities({
    subject: { CN: "2" },
    subjectaltname: "IP Address:10.0.0.2, DNS:node-2.internal, URI:kahuna://node/2",
  })).toEqual(["CN:2", "IP Address:10.0.0.2", "DNS:node-2.internal", "URI:kahuna://node/2"]);
  expect(certificateIdentities(undefined)).toEqual([]);
  expect(certificateIdentities({})).toEqual([]);
});

test("a certificate speaks for a node id by its CN, a DNS SAN or the kahuna://node/ID URI", () => {
  expect(identityMatches(["CN:2"], "2")).toBe(true);
  expect(identityMatches(["CN:web", "DNS:2"], "2")).toBe(true);
  expect(identityMatches(["CN:web", "URI:kahuna://node/2"], "2")).toBe(true);
  // An address, another id, or a look-alike do not.
  expect(identityMatches(["CN:22", "IP Address:2", "URI:kahuna://node/2x", "DNS:2.x"], "2"))
    .toBe(false);
  expect(identityMatches([], "2")).toBe(false);
});
