/**
 * Reads the auth file named by --auth-file (docs/security.md), when the node starts and again
 * on SIGHUP. A file that is missing, unreadable or wrong is one line naming the flag, the file,
 * the entry and the field: the node then refuses to start (on SIGHUP, keeps the file it has).
 */
import { readFileSync } from "node:fs";
import { type AuthConfig, parseAuthFile } from "../auth/auth-file.ts";

export class AuthFileError extends Error {
  override name = "AuthFileError";
}

/** Files larger than this are refused unread: a thousand clients take about 300 KB. */
const authFileBytesMax = 4 * 1024 * 1024;

export function loadAuthFile(file: string, flag = "--auth-file"): AuthConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${String(code ?? error)})`;
    throw new AuthFileError(
      `${flag} ${file} ${why}${code === "ENOENT" ? " (kahuna auth add makes it)" : ""}`,
    );
  }
  if (text.length > authFileBytesMax) {
    throw new AuthFileError(`${flag} ${file} is larger than ${authFileBytesMax} bytes`);
  }
  const parsed = parseAuthFile(text);
  if ("error" in parsed) throw new AuthFileError(`${flag} ${file}: ${parsed.error}`);
  return parsed;
}
