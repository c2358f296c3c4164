/**
 * Where a binary-protocol server listens: "host:port" (the protocol has no URL scheme). Kept
 * apart from binary-connection.ts so that checking an address loads no codec: the client
 * library loads the binary transport, and its msgpack dependency, only when it is used.
 */

export type BinaryAddress = { readonly host: string; readonly port: number };

/** Parses "host:port" (also "[::1]:port"), or says what a valid address looks like. */
export function parseBinaryAddress(text: string): BinaryAddress | { error: string } {
  const match = /^(?:\[([^\]]+)\]|([^:\s/]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65_535) {
    return {
      error: `a binary-protocol server is host:port, like 127.0.0.1:2072, got ${
        JSON.stringify(text)
      }`,
    };
  }
  return { host: match[1] ?? match[2]!, port };
}
