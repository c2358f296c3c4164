/**
 * TLS material for a node (docs/security.md): the PEM files named by --tls-cert/--tls-key and
 * the peer flags, read and checked when the node starts and again on SIGHUP, and the identity
 * rule for peer links.
 *
 * Invariants:
 * - A node never listens with a certificate it could not read or whose key does not match it:
 *   loading fails with one line naming the flag and the file, and the node refuses to start
 *   (on SIGHUP, it keeps the certificates it has).
 * - A peer's certificate speaks for a node id only through its CN, a DNS SAN equal to the id,
 *   or the URI SAN `kahuna://node/ID`.
 */
import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { PeerTlsFiles, TlsFiles } from "./options.ts";
import type { ServerTls } from "./runtime-adapter.ts";

export class TlsFileError extends Error {
  override name = "TlsFileError";
}

/** The files' text, checked: a certificate, a private key, and the key is the certificate's. */
export function loadServerTls(
  files: TlsFiles,
  flags: { readonly cert: string; readonly key: string },
): { cert: string; key: string } {
  const cert = readPem(flags.cert, files.certFile);
  const key = readPem(flags.key, files.keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw fileError(flags.cert, files.certFile, "is not a PEM certificate", error);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw fileError(flags.key, files.keyFile, "is not a PEM private key", error);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsFileError(
      `${flags.key} ${files.keyFile} is not the key of ${flags.cert} ${files.certFile}`,
    );
  }
  return { cert, key };
}

/** The peer links' material: this node's certificate and key, and the cluster CA. */
export function loadPeerTls(files: PeerTlsFiles, sharedWithClients: boolean): ServerTls {
  const flags = sharedWithClients
    ? { cert: "--tls-cert", key: "--tls-key" }
    : { cert: "--peer-tls-cert", key: "--peer-tls-key" };
  const own = loadServerTls(files, flags);
  const ca = readPem("--peer-ca", files.caFile);
  try {
    new X509Certificate(ca);
  } catch (error) {
    throw fileError("--peer-ca", files.caFile, "is not a PEM certificate", error);
  }
  return { ...own, ca };
}

function readPem(flag: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${String(code ?? error)})`;
    throw new TlsFileError(`${flag} ${file} ${why}`);
  }
  if (!text.includes("-----BEGIN ")) throw new TlsFileError(`${flag} ${file} is not a PEM file`);
  return text;
}

function fileError(flag: string, file: string, what: string, error: unknown): TlsFileError {
  const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return new TlsFileError(`${flag} ${file} ${what} (${why})`);
}

/** What a peer certificate (node:tls getPeerCertificate) names: its CN and its SANs. */
export function certificateIdentities(
  certificate: { subject?: { CN?: unknown }; subjectaltname?: unknown } | undefined,
): string[] {
  const names: string[] = [];
  const cn = certificate?.subject?.CN;
  if (typeof cn === "string") names.push(`CN:${cn}`);
  // node:tls joins SANs as "DNS:a, IP Address:1.2.3.4, URI:kahuna://node/1".
  const sans = certificate?.subjectaltname;
  if (typeof sans === "string") {
    for (const part of sans.split(", ")) if (part !== "") names.push(part);
  }
  return names;
}

/** Whether a certificate naming `identities` may speak for node `nodeId`. */
export function identityMatches(identities: readonly string[], nodeId: string): boolean {
  return identities.some((name) =>
    name === `CN:${nodeId}` || name === `DNS:${nodeId}` || name === `URI:kahuna://node/${nodeId}`
  );
}
