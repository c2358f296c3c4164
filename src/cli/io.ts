/**
 * Where the CLI writes. Commands take an Io instead of touching process.stdout, so the same
 * code serves one-shot commands and the interactive shell.
 */
import process from "node:process";

export type Io = {
  out(line: string): void;
  err(line: string): void;
};

export const processIo: Io = {
  out(line) {
    process.stdout.write(`${line}\n`);
  },
  err(line) {
    process.stderr.write(`${line}\n`);
  },
};
