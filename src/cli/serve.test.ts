import { expect, test } from "bun:test";
import { parseCluster, parseServeOptions } from "./serve.ts";

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
      verbose: true,
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
    KAHUNA_QUIET: "1",
  };
  const parsed = parseServeOptions(["--http-port", "4000", "--partitions", "4"], env);
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
      verbose: false,
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
    [["--verbose"], "Unknown option '--verbose'"],
    [["extra"], "Unexpected argument 'extra'"],
  ];
  for (const [args, message] of cases) {
    const parsed = parseServeOptions(args, {});
    expect(parsed.kind).toBe("usage");
    expect(parsed.kind === "usage" ? parsed.message : "").toContain(message);
  }
});

test("initial cluster entries are sorted by id and accept bracketed IPv6 hosts", () => {
  expect(parseCluster("2=[::1]:2071, 1=localhost:2071")).toEqual([
    { id: "1", host: "localhost", port: 2071 },
    { id: "2", host: "::1", port: 2071 },
  ]);
});
