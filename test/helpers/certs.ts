/**
 * Real certificates for TLS tests, made with openssl by the very commands docs/security.md
 * shows (its ```sh blocks): one creates a CA, the other — run once per node, its first line
 * `node=… addr=…` set for that node — a node's key and CA-signed certificate. So the page's
 * commands are run by every test that uses this helper.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { repoRoot, tempDir } from "./server.ts";

export type NodeCert = { readonly certFile: string; readonly keyFile: string };

export type Certs = {
  readonly dir: string;
  readonly caFile: string;
  /** The CA certificate's PEM text. */
  readonly ca: string;
  node(id: string): NodeCert;
};

/** The page's two ```sh blocks: the CA's and a node's (first line `node=… addr=…`). */
export function securityDocBlocks(): { ca: string; node: string } {
  const text = readFileSync(join(repoRoot, "docs/security.md"), "utf8");
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const ca = blocks.filter((block) => block.includes("-x509"));
  const node = blocks.filter((block) => /^node=\S+ addr=\S+/.test(block));
  if (ca.length !== 1 || node.length !== 1 || blocks.length !== 2) {
    throw new Error("docs/security.md should have two ```sh blocks: the CA's and a node's");
  }
  return { ca: ca[0]!, node: node[0]! };
}

/** Runs a shell script in `dir`; throws with its output when it fails. */
export async function runScript(script: string, dir: string): Promise<string> {
  const child = Bun.spawn(["bash", "-euo", "pipefail", "-c", script], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (status !== 0) throw new Error(`script failed (${status}):\n${script}\n${out}\n${err}`);
  return out + err;
}

/** A CA in `dir` (fresh by default) and a certificate for each node id, at 127.0.0.1. */
export async function makeCerts(ids: readonly string[], dir = tempDir("kahuna-certs-")) {
  const blocks = securityDocBlocks();
  await runScript(blocks.ca, dir);
  for (const id of ids) await addNodeCert(dir, id);
  const certs: Certs = {
    dir,
    caFile: join(dir, "ca.crt"),
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    node: (id) => ({ certFile: join(dir, `node${id}.crt`), keyFile: join(dir, `node${id}.key`) }),
  };
  return certs;
}

/** Runs the page's node block for `id` in `dir` (which holds ca.crt and ca.key). */
export async function addNodeCert(dir: string, id: string, addr = "127.0.0.1"): Promise<string> {
  const script = securityDocBlocks().node.replace(/^node=\S+ addr=\S+/, `node=${id} addr=${addr}`);
  return await runScript(script, dir);
}

/** The SHA-256 fingerprint of the certificate a TLS port shows (trusting the CA). */
export function shownCertificate(port: number, ca: string, client?: NodeCert): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca,
      ...(client === undefined
        ? {}
        : { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) }),
    }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/** Polls `check` for up to 5 s; a check that throws counts as not yet. */
export async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    // The HTTP port re-listens with the new certificate: a connection may fail meanwhile.
    if (await check().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`not within 5 s: ${what}`);
}
