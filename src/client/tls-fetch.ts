/**
 * fetch options that make a REST call trust a private CA (`ca` in ClientOptions). fetch has no
 * portable way to take one: Bun reads `tls.ca`, Deno an HTTP client made with
 * Deno.createHttpClient, and Node 20's built-in fetch only NODE_EXTRA_CA_CERTS (set when the
 * process starts). The binary transport takes `ca` in all three (node:tls).
 */
import { KahunaError, KahunaErrorKind } from "./errors.ts";

type DenoTls = { createHttpClient(options: { caCerts: string[] }): unknown };

/** Extra fetch init fields for `ca`; throws InvalidInput where fetch cannot take one. */
export function fetchOptionsForCa(ca: string): Record<string, unknown> {
  const global = globalThis as {
    Bun?: unknown;
    Deno?: DenoTls;
    process?: { env?: Record<string, string | undefined> };
  };
  if (global.Bun !== undefined) return { tls: { ca } };
  if (global.Deno !== undefined) return { client: global.Deno.createHttpClient({ caCerts: [ca] }) };
  // Node: the CA must already be in NODE_EXTRA_CA_CERTS, which fetch reads at start-up.
  if ((global.process?.env?.["NODE_EXTRA_CA_CERTS"] ?? "") !== "") return {};
  throw new KahunaError(
    KahunaErrorKind.InvalidInput,
    "ca over REST needs Bun or Deno; under Node, start the process with " +
      "NODE_EXTRA_CA_CERTS=ca.crt instead (the binary transport takes ca everywhere)",
  );
}
