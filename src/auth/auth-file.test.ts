import { expect, test } from "bun:test";
import { formatAuthFile, parseAuthFile } from "./auth-file.ts";

const digest = "a".repeat(64);
const other = "b".repeat(64);

function file(clients: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: 1, clients, ...extra });
}

test("a file with clients parses, with lock, read and admin defaulting to nothing", () => {
  const text = file([
    { name: "deployer", digest, lock: ["deploys/"], read: ["jobs/"], admin: true },
    { name: "nobody", digest: other },
  ]);
  expect(parseAuthFile(text)).toEqual({
    version: 1,
    clients: [
      { name: "deployer", digest, lock: ["deploys/"], read: ["jobs/"], admin: true },
      { name: "nobody", digest: other, lock: [], read: [], admin: false },
    ],
  });
  expect(parseAuthFile(file([]))).toEqual({ version: 1, clients: [] });
});

test("what formatAuthFile writes parses back to the same config", () => {
  const config = parseAuthFile(file([{ name: "a", digest, lock: [""], read: [], admin: false }]));
  if ("error" in config) throw new Error(config.error);
  expect(parseAuthFile(formatAuthFile(config))).toEqual(config);
  expect(formatAuthFile(config).endsWith("}\n")).toBe(true);
});

test("every problem is one line naming the entry and the field", () => {
  const cases: Array<[string, string]> = [
    ["{", "is not valid JSON ("],
    ["[]", "must be a JSON object, got []"],
    [JSON.stringify({ version: 2, clients: [] }), "version must be 1, got 2"],
    [JSON.stringify({ clients: [] }), "version must be 1, got undefined"],
    [JSON.stringify({ version: 1 }), "clients must be a list of clients, got undefined"],
    [
      JSON.stringify({ version: 1, clients: [], client: [] }),
      'unknown field "client"; allowed fields are version, clients',
    ],
    [file(["x"]), 'clients[0] must be an object, got "x"'],
    [
      file([{ name: "", digest }]),
      "clients[0]: name must be 1 to 64 letters, digits, '.', '_', '@' or '-', got \"\"",
    ],
    [
      file([{ name: "a b", digest }]),
      "clients[0]: name must be 1 to 64 letters, digits, '.', '_', '@' or '-', got \"a b\"",
    ],
    [
      file([{ name: "ci", digest: "A".repeat(64) }]),
      'clients[0] ("ci"): digest must be the SHA-256 of the token as 64 lowercase hex digits',
    ],
    [
      file([{ name: "ci", digest, locks: ["x"] }]),
      'clients[0] ("ci"): unknown field "locks"; allowed fields are name, digest, lock, read, admin',
    ],
    [file([{ name: "ci", digest, lock: "jobs/" }]), 'clients[0] ("ci"): lock must be a list'],
    [
      file([{ name: "ci", digest, read: ["ok", 5] }]),
      'clients[0] ("ci"): read[1] must be a string of at most 512 UTF-8 bytes without NUL, got 5',
    ],
    [file([{ name: "ci", digest, lock: ["a\u0000"] }]), 'clients[0] ("ci"): lock[0] must be'],
    [file([{ name: "ci", digest, lock: ["\ud800"] }]), "not well-formed Unicode"],
    [file([{ name: "ci", digest, lock: ["é".repeat(257)] }]), "got 514 bytes"],
    [
      file([{ name: "ci", digest, admin: "yes" }]),
      'clients[0] ("ci"): admin must be true or false',
    ],
    [
      file([{ name: "ci", digest }, { name: "ci", digest: other }]),
      'clients[1] ("ci"): name "ci" is listed twice',
    ],
    [
      file([{ name: "a", digest }, { name: "b", digest }]),
      'clients[1] ("b"): digest is also the digest of client "a"; each client needs its own token',
    ],
  ];
  for (const [text, expected] of cases) {
    const parsed = parseAuthFile(text);
    expect({ text, error: "error" in parsed ? parsed.error : "parsed" }).toEqual({
      text,
      error: expect.stringContaining(expected),
    });
    if ("error" in parsed) expect(parsed.error).not.toContain("\n");
  }
});

test("random bytes and random JSON never throw: a config or an error", () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const pieces = [
    '{"version":1,"clients":[',
    '{"name":"x"',
    ',"digest":"',
    digest,
    '"',
    "}",
    "]",
    ',"lock":[',
    '"a"',
    "null",
    "1",
    ",",
    '{"admin":true}',
    "\u0000",
    "\ud800",
    '"',
  ];
  for (let i = 0; i < 2_000; i++) {
    let text = "";
    const length = next() % 12;
    for (let j = 0; j < length; j++) text += pieces[next() % pieces.length];
    const parsed = parseAuthFile(text);
    expect("error" in parsed || Array.isArray(parsed.clients)).toBe(true);
  }
});
