/** The error a call ends with once every attempt failed: it says what the servers said. */
import { expect, test } from "bun:test";
import { KahunaErrorKind } from "./errors.ts";
import { exhausted } from "./failover.ts";

const servers = ["http://127.0.0.1:2070"];

test("servers at a bound say so, not that no majority is reachable", () => {
  const full = "http://127.0.0.1:2070: answered 503 (partition 3 has too many waiters " +
    "(at most 1000 for one lock, and a limit for the node))";
  const error = exhausted([full, full], { unknownOutcome: false, mustRetry: true }, servers);
  expect(error.kind).toBe(KahunaErrorKind.NoMajority);
  expect(error.message).toStartWith("the servers are at a limit and could not take this call");
  expect(error.message).toContain("too many waiters");
  expect(error.message).not.toContain("majority");
});

test("MustRetry for anything else is no majority", () => {
  const noLeader = "http://127.0.0.1:2070: answered 503 (this node does not lead partition 3)";
  const error = exhausted([noLeader], { unknownOutcome: false, mustRetry: true }, servers);
  expect(error.kind).toBe(KahunaErrorKind.NoMajority);
  expect(error.message).toStartWith("no majority of the cluster is reachable");
});
