/**
 * Drives a command through a pseudo-terminal, as a person at a keyboard would: `script`
 * (util-linux, Debian package bsdutils) gives it a terminal; the test types keys and waits
 * for text. Every wait is bounded in reads and the process in time.
 */
import { repoRoot } from "../../helpers/server.ts";

export const scriptBin = Bun.which("script");

export type Terminal = {
  /** Everything the terminal showed so far. */
  seen(): string;
  type(keys: string): Promise<void>;
  /** Waits until `text` was shown `count` times in all (fails the test otherwise). */
  waitFor(text: string, count?: number): Promise<void>;
  /** Waits for the end, reading what is left; the exit status. */
  exited(): Promise<number>;
};

export function openTerminal(command: readonly string[], env: Record<string, string>): Terminal {
  const line = command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
  const child = Bun.spawn([scriptBin!, "-qfec", line, "/dev/null"], {
    cwd: repoRoot,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TERM: "xterm", ...env },
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const occurrences = (text: string) => seen.split(text).length - 1;
  return {
    seen: () => seen,
    async type(keys) {
      child.stdin.write(keys);
      await child.stdin.flush();
    },
    async waitFor(text, count = 1) {
      for (let reads = 0; reads < 400 && occurrences(text) < count; reads++) {
        const chunk = await reader.read();
        if (chunk.done) break;
        seen += decoder.decode(chunk.value);
      }
      if (occurrences(text) < count) {
        throw new Error(`the terminal never showed ${JSON.stringify(text)} ×${count}:\n${seen}`);
      }
    },
    async exited() {
      for (let reads = 0; reads < 400; reads++) {
        const chunk = await reader.read();
        if (chunk.done) break;
        seen += decoder.decode(chunk.value);
      }
      return await child.exited;
    },
  };
}
