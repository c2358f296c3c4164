import { expect, test } from "bun:test";
import { PrometheusText } from "../metrics/text-format.ts";
import type { AuthClient } from "./auth-file.ts";
import { Authenticator, invalidTokenError, missingTokenError } from "./authenticator.ts";
import { refusal } from "./permissions.ts";
import { clientOfDigest, makeToken, tokenDigest } from "./token.ts";

const client = (fields: Partial<AuthClient>): AuthClient => ({
  name: "ci",
  digest: "0".repeat(64),
  lock: [],
  read: [],
  admin: false,
  ...fields,
});

test("lock prefixes allow TryLock, Extend, Unlock and Get of the resources they start", () => {
  const ci = client({ lock: ["jobs/"] });
  for (const op of ["tryLock", "extend", "unlock", "get"] as const) {
    expect(refusal(ci, { kind: "lock", op, resource: "jobs/nightly" })).toBeUndefined();
    expect(refusal(ci, { kind: "lock", op, resource: "jobs/" })).toBeUndefined();
  }
  // A prefix is compared exactly, character by character.
  expect(refusal(ci, { kind: "lock", op: "tryLock", resource: "jobs" })).toBe(
    'client "ci" may not lock "jobs": its lock prefixes are "jobs/"',
  );
  expect(refusal(ci, { kind: "lock", op: "unlock", resource: "Jobs/nightly" })).toBe(
    'client "ci" may not unlock "Jobs/nightly": its lock prefixes are "jobs/"',
  );
});

test("read prefixes allow Get and Watch only", () => {
  const reader = client({ name: "ro", read: ["jobs/", "builds/"] });
  expect(refusal(reader, { kind: "lock", op: "get", resource: "builds/7" })).toBeUndefined();
  expect(refusal(reader, { kind: "lock", op: "watch", resource: "jobs/7" })).toBeUndefined();
  expect(refusal(reader, { kind: "lock", op: "watch", resource: "x/7" })).toBe(
    'client "ro" may not watch "x/7": its lock or read prefixes are "jobs/", "builds/"',
  );
  expect(refusal(reader, { kind: "lock", op: "tryLock", resource: "builds/7" })).toBe(
    'client "ro" may not lock "builds/7": it has no lock prefixes',
  );
  expect(refusal(reader, { kind: "lock", op: "extend", resource: "jobs/a" })).toBe(
    'client "ro" may not extend "jobs/a": it has no lock prefixes',
  );
  expect(refusal(reader, { kind: "lock", op: "get", resource: "orders/1" })).toBe(
    'client "ro" may not read "orders/1": its lock or read prefixes are "jobs/", "builds/"',
  );
});

test('the prefix "" is every resource; admin is separate from locks', () => {
  const all = client({ name: "all", lock: [""] });
  expect(refusal(all, { kind: "lock", op: "tryLock", resource: "anything" })).toBeUndefined();
  expect(refusal(all, { kind: "admin", what: "/metrics" })).toBe(
    'client "all" may not read /metrics: that needs an admin client ("admin": true in the auth file)',
  );
  expect(refusal(client({ admin: true }), { kind: "admin", what: "/v1/cluster" })).toBeUndefined();
  expect(refusal(client({ admin: true }), { kind: "lock", op: "get", resource: "a" })).toBe(
    'client "ci" may not read "a": it has no lock or read prefixes',
  );
  const none = client({ read: [""] });
  expect(refusal(none, { kind: "lock", op: "tryLock", resource: "a" })).toBe(
    'client "ci" may not lock "a": it has no lock prefixes',
  );
  expect(refusal(client({ lock: [""] }), { kind: "lock", op: "unlock", resource: "a" }))
    .toBeUndefined();
});

test("tokens are 256 random bits; the digest is SHA-256 hex; lookups find exactly one", () => {
  const a = makeToken();
  const b = makeToken();
  expect(a).toMatch(/^kahuna_[A-Za-z0-9_-]{43}$/);
  expect(a).not.toBe(b);
  // `printf %s TOKEN | sha256sum` gives the same digest (docs/security.md).
  expect(tokenDigest("kahuna_test")).toBe(
    "9ff58f91b5192713f652b9aefa031f1abc62668c94def49dbcc238cbb55a78f8",
  );
  const clients = [
    client({ name: "a", digest: tokenDigest(a) }),
    client({ name: "b", digest: tokenDigest(b) }),
  ];
  expect(clientOfDigest(clients, tokenDigest(b))?.name).toBe("b");
  expect(clientOfDigest(clients, tokenDigest(`${a}x`))).toBeUndefined();
});

test("the authenticator: 401 without or with a wrong token, 403 beyond permissions, counted", () => {
  const token = makeToken();
  const auth = new Authenticator({
    version: 1,
    clients: [client({ name: "ci", digest: tokenDigest(token), lock: ["jobs/"] })],
  });
  expect(auth.identifyHeader(null)).toEqual({
    kind: "refused",
    status: 401,
    reason: "missing",
    error: missingTokenError,
  });
  expect(auth.identifyHeader(`Bearer ${token}x`)).toMatchObject({
    reason: "invalid",
    error: invalidTokenError,
  });
  expect(auth.identifyHeader(`Basic ${token}`)).toMatchObject({ status: 401, reason: "invalid" });
  expect(auth.identifyHeader(`Bearer ${"x".repeat(5000)}`)).toMatchObject({ reason: "invalid" });
  const known = auth.identifyHeader(`bearer  ${token} `);
  expect(known).toMatchObject({ kind: "client", client: { name: "ci" } });
  if (known.kind !== "client") throw new Error("identified");
  expect(auth.check(known.client, { kind: "lock", op: "tryLock", resource: "jobs/a" })).toEqual({
    kind: "allowed",
  });
  expect(auth.check(known.client, { kind: "lock", op: "tryLock", resource: "x" })).toMatchObject({
    status: 403,
    error: 'client "ci" may not lock "x": its lock prefixes are "jobs/"',
  });
  const out = new PrometheusText();
  auth.writeMetrics(out);
  expect(out.text()).toContain('kahuna_auth_refused_total{reason="missing"} 1');
  expect(out.text()).toContain('kahuna_auth_refused_total{reason="invalid"} 3');
  expect(out.text()).toContain('kahuna_auth_refused_total{reason="forbidden"} 1');
  expect(out.text()).toContain("kahuna_auth_clients 1");
  // A new config applies to the next lookup.
  auth.replace({ version: 1, clients: [] });
  expect(auth.identifyToken(token)).toMatchObject({ status: 401, reason: "invalid" });
});
