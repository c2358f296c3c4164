import { expect, test } from "bun:test";
import { isLoopback, parseCluster, parseServeOptions } from "./serve.ts";

test("serve with no flags is a single-node cluster on the default ports", () => {
  expect(parseServeOptions([], {})).toEqual({
    kind: "run",
    options: {
      nodeId: "1",
      host: "127.0.0.1",
      httpPort: 2070,
      peerPort: 2071,
      binaryPort: 2072,
      dataDir: "./data",
      initialCluster: [{ id: "1", host: "127.0.0.1", port: 2071 }],
      partitions: 16,
      sweepGraceMs: 3_600_000,
      logFormat: "text",
      logLevel: "info",
    },
  });
});

test("environment variables set options and flags win over them", () => {
  const env = {
    KAHUNA_NODE_ID: "b",
    KAHUNA_HTTP_PORT: "3000",
    KAHUNA_PEER_PORT: "3001",
    KAHUNA_BINARY_PORT: "3002",
    KAHUNA_DATA_DIR: "/var/lib/kahuna",
    KAHUNA_INITIAL_CLUSTER: "a=10.0.0.1:3001,b=10.0.0.2:3001",
    KAHUNA_PARTITIONS: "8",
    KAHUNA_SWEEP_GRACE: "10m",
    KAHUNA_QUIET: "1",
  };
  const parsed = parseServeOptions(
    ["--http-port", "4000", "--partitions", "4", "--sweep-grace", "90s"],
    env,
  );
  expect(parsed).toEqual({
    kind: "run",
    options: {
      nodeId: "b",
      host: "127.0.0.1",
      httpPort: 4000,
      peerPort: 3001,
      binaryPort: 3002,
      dataDir: "/var/lib/kahuna",
      initialCluster: [
        { id: "a", host: "10.0.0.1", port: 3001 },
        { id: "b", host: "10.0.0.2", port: 3001 },
      ],
      partitions: 4,
      sweepGraceMs: 90_000,
      logFormat: "text",
      logLevel: "error",
    },
  });
});

test("an empty environment variable counts as unset", () => {
  const parsed = parseServeOptions([], { KAHUNA_HTTP_PORT: "" });
  expect(parsed.kind === "run" && parsed.options.httpPort).toBe(2070);
});

test("bad serve flags are usage messages that name the flag", () => {
  const cases: Array<[string[], string]> = [
    [["--http-port", "70000"], "--http-port must be an integer from 0 to 65535"],
    [["--peer-port=-1"], "--peer-port must be an integer from 0 to 65535"],
    [
      ["--http-port", "3000", "--peer-port", "3000"],
      "--http-port, --peer-port and --binary-port must differ",
    ],
    [["--binary-port", "2071"], "--http-port, --peer-port and --binary-port must differ"],
    [["--binary-port", "x"], "--binary-port must be an integer from 0 to 65535"],
    [["--partitions", "1025"], "--partitions must be an integer from 1 to 1024"],
    [["--node-id", "a b"], "--node-id must be 1 to 64 letters"],
    [["--initial-cluster", "1=h:1,1=h:2"], "--initial-cluster lists node 1 twice"],
    [["--initial-cluster", "2=h:1"], "--initial-cluster must include this node (--node-id 1)"],
    [["--data-dir", ""], "--data-dir must not be empty"],
    [["--sweep-grace", "soon"], "--sweep-grace must be a duration like 10s, 500ms, 1m or 1h"],
    [["--sweep-grace", "400d"], '--sweep-grace must be at most 365d, got "400d"'],
    [["--verbose"], "unknown option --verbose; the options are --node-id,"],
    [["--http-port"], "--http-port needs a value"],
    [["--log-format", "xml"], '--log-format must be one of text, json, got "xml"'],
    [["--log-level", "loud"], '--log-level must be one of debug, info, warn, error, got "loud"'],
    [["--quiet=no"], "--quiet takes no value"],
    [["extra"], 'serve takes only flags, got "extra"'],
  ];
  for (const [args, message] of cases) {
    const parsed = parseServeOptions(args, {});
    expect(parsed.kind).toBe("usage");
    expect(parsed.kind === "usage" ? parsed.message : "").toContain(message);
  }
});

test("the peer and binary ports follow --http-port unless set", () => {
  const ports = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseServeOptions(args, env);
    if (parsed.kind !== "run") throw new Error(JSON.stringify(parsed));
    const { httpPort, peerPort, binaryPort, initialCluster } = parsed.options;
    return { httpPort, peerPort, binaryPort, self: initialCluster[0]?.port };
  };
  expect(ports(["--http-port", "2170"])).toEqual({
    httpPort: 2170,
    peerPort: 2171,
    binaryPort: 2172,
    self: 2171,
  });
  expect(ports([], { KAHUNA_HTTP_PORT: "4000" })).toMatchObject({
    peerPort: 4001,
    binaryPort: 4002,
  });
  expect(ports(["--http-port", "2170", "--binary-port", "9000"])).toMatchObject({
    peerPort: 2171,
    binaryPort: 9000,
  });
  expect(ports(["--http-port", "2170"], { KAHUNA_PEER_PORT: "5000" })).toMatchObject({
    peerPort: 5000,
    binaryPort: 2172,
  });
  // HTTP on any free port, or at the top of the range: the others keep their defaults.
  expect(ports(["--http-port", "0"])).toMatchObject({ peerPort: 2071, binaryPort: 2072 });
  expect(ports(["--http-port", "65535"])).toMatchObject({ peerPort: 2071, binaryPort: 2072 });
});

test("initial cluster entries are sorted by id and accept bracketed IPv6 hosts", () => {
  expect(parseCluster("2=[::1]:2071, 1=localhost:2071")).toEqual([
    { id: "1", host: "localhost", port: 2071 },
    { id: "2", host: "::1", port: 2071 },
  ]);
});

test("--log-format and --log-level, or their variables; --quiet is --log-level error", () => {
  const log = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseServeOptions(args, env);
    if (parsed.kind !== "run") throw new Error(JSON.stringify(parsed));
    return [parsed.options.logFormat, parsed.options.logLevel];
  };
  expect(log([])).toEqual(["text", "info"]);
  expect(log(["--log-format", "json", "--log-level", "debug"])).toEqual(["json", "debug"]);
  expect(log([], { KAHUNA_LOG_FORMAT: "json", KAHUNA_LOG_LEVEL: "warn" })).toEqual([
    "json",
    "warn",
  ]);
  expect(log(["--log-level=info"], { KAHUNA_LOG_LEVEL: "error" })).toEqual(["text", "info"]);
  expect(log(["--quiet"])).toEqual(["text", "error"]);
  expect(log([], { KAHUNA_QUIET: "1" })).toEqual(["text", "error"]);
  // A flag wins over a variable, whichever of the two spellings each uses.
  expect(log(["--quiet"], { KAHUNA_LOG_LEVEL: "debug" })).toEqual(["text", "error"]);
  expect(log(["--log-level", "warn", "--quiet"])).toEqual(["text", "warn"]);
  expect(log([], { KAHUNA_LOG_LEVEL: "debug", KAHUNA_QUIET: "1" })).toEqual(["text", "debug"]);
  const bad = parseServeOptions([], { KAHUNA_LOG_FORMAT: "yaml" });
  expect(bad).toEqual({
    kind: "usage",
    message: '--log-format must be one of text, json, got "yaml"',
  });
});

test("TLS flags and their variables name the certificate files", () => {
  const options = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseServeOptions(args, env);
    return parsed.kind === "run"
      ? { tls: parsed.options.tls, peer: parsed.options.peerTls }
      : parsed;
  };
  expect(options(["--tls-cert", "n.crt", "--tls-key", "n.key"])).toEqual({
    tls: { certFile: "n.crt", keyFile: "n.key" },
    peer: undefined,
  });
  // --peer-ca alone reuses the client certificate for peer links.
  expect(options([], { KAHUNA_TLS_CERT: "n.crt", KAHUNA_TLS_KEY: "n.key", KAHUNA_PEER_CA: "ca" }))
    .toEqual({
      tls: { certFile: "n.crt", keyFile: "n.key" },
      peer: { certFile: "n.crt", keyFile: "n.key", caFile: "ca" },
    });
  expect(
    options(["--peer-tls-cert", "p.crt", "--peer-tls-key", "p.key", "--peer-ca", "ca"], {
      KAHUNA_PEER_TLS_CERT: "other.crt",
    }),
  ).toEqual({ tls: undefined, peer: { certFile: "p.crt", keyFile: "p.key", caFile: "ca" } });
});

test("TLS flags that come without their partner are usage errors", () => {
  expect(parseServeOptions(["--tls-cert", "n.crt"], {})).toEqual({
    kind: "usage",
    message: "--tls-cert needs --tls-key too (a certificate and its key)",
  });
  expect(parseServeOptions(["--peer-tls-key", "p.key"], {})).toEqual({
    kind: "usage",
    message: "--peer-tls-key needs --peer-tls-cert too (a certificate and its key)",
  });
  expect(parseServeOptions(["--peer-tls-cert", "p.crt", "--peer-tls-key", "p.key"], {})).toEqual({
    kind: "usage",
    message: "--peer-tls-cert needs --peer-ca: the cluster CA that signs peers",
  });
  expect(parseServeOptions(["--peer-ca", "ca"], {})).toEqual({
    kind: "usage",
    message: "--peer-ca needs --peer-tls-cert and --peer-tls-key (or --tls-cert and --tls-key)",
  });
});

test("--auth-file and KAHUNA_AUTH_FILE name the auth file", () => {
  const authFile = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseServeOptions(args, env);
    return parsed.kind === "run" ? parsed.options.authFile : parsed;
  };
  expect(authFile([])).toBeUndefined();
  expect(authFile(["--auth-file", "a.json"])).toBe("a.json");
  expect(authFile([], { KAHUNA_AUTH_FILE: "b.json" })).toBe("b.json");
  expect(authFile(["--auth-file", "a.json"], { KAHUNA_AUTH_FILE: "b.json" })).toBe("a.json");
  expect(authFile(["--auth-file", " "])).toEqual({
    kind: "usage",
    message: "--auth-file must not be empty",
  });
});

test("a non-loopback --host needs TLS and tokens (and peer TLS in a cluster), or --insecure", () => {
  const refused = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseServeOptions(args, env);
    return parsed.kind === "usage" ? parsed.message : "started";
  };
  const tls = ["--tls-cert", "n.crt", "--tls-key", "n.key"];
  const auth = ["--auth-file", "auth.json"];
  expect(refused(["--host", "0.0.0.0"])).toBe(
    "--host 0.0.0.0 is not a loopback address, and this node has no TLS on the client ports " +
      "(--tls-cert, --tls-key), no client tokens (--auth-file): anyone who can reach it could " +
      "take, release and read every lock. Give them, or --insecure to serve anyway " +
      "(docs/security.md)",
  );
  expect(refused(["--host", "10.0.0.1", ...tls])).toContain(
    "this node has no client tokens (--auth-file): anyone",
  );
  expect(refused(["--host", "10.0.0.1", ...auth])).toContain("Give it, or --insecure");
  expect(refused(["--host", "::", ...tls, ...auth])).toBe("started");
  expect(refused(["--host", "0.0.0.0", "--insecure"])).toBe("started");
  expect(refused([], { KAHUNA_HOST: "0.0.0.0", KAHUNA_INSECURE: "1" })).toBe("started");
  expect(refused([], { KAHUNA_HOST: "0.0.0.0" })).toContain("is not a loopback address");
  const cluster = ["--initial-cluster", "1=10.0.0.1:2071,2=10.0.0.2:2071"];
  expect(refused(["--host", "10.0.0.1", ...tls, ...auth, ...cluster])).toContain(
    "this node has no mutual TLS between nodes (--peer-ca): anyone",
  );
  expect(refused(["--host", "10.0.0.1", ...tls, ...auth, ...cluster, "--peer-ca", "ca.crt"]))
    .toBe("started");
  // Loopback needs nothing, as before, a cluster on one machine included.
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) {
    expect(refused(["--host", host, ...cluster])).toBe("started");
  }
});

test("isLoopback knows loopback addresses only", () => {
  for (const host of ["127.0.0.1", "127.255.0.9", "LOCALHOST", "::1", "0:0:0:0:0:0:0:1", "[::1]"]) {
    expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: true });
  }
  for (
    const host of ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "127.0.0.1.example.com", "myhost"]
  ) {
    expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: false });
  }
});
