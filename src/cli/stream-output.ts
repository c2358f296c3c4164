/**
 * Commands that print a stream, one line per item (`kahuna watch`, `kahuna elect --observe`):
 * until `count` lines were printed (exit 0), Ctrl-C (130), or an error from the client (its
 * status, reported as every command reports one).
 */
import process from "node:process";
import { type KahunaClient, KahunaError } from "../client/index.ts";
import { cliMessage, failureOf } from "./commands.ts";
import type { Format } from "./commands.ts";
import { ExitStatus } from "./exit-status.ts";
import { type Io, reportFailure } from "./io.ts";

/** `--count N`: a whole number from 1, or undefined when not given; else a usage message. */
export function parseCount(text: string | undefined): number | undefined | { error: string } {
  if (text === undefined) return undefined;
  const count = Number(text);
  if (!Number.isSafeInteger(count) || count < 1) {
    return { error: `--count must be a whole number from 1, got ${text}` };
  }
  return count;
}

export async function printStream<T>(options: {
  readonly client: KahunaClient;
  /** The stream, which ends when `signal` aborts. */
  readonly items: (signal: AbortSignal) => AsyncIterable<T>;
  readonly line: (item: T) => string;
  readonly count: number | undefined;
  readonly format: Format;
  readonly op: string;
  readonly io: Io;
}): Promise<number> {
  const { client, io, count } = options;
  const stop = new AbortController();
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    stop.abort();
  };
  process.once("SIGINT", onInterrupt);
  let printed = 0;
  try {
    for await (const item of options.items(stop.signal)) {
      io.out(options.line(item));
      printed += 1;
      if (count !== undefined && printed >= count) stop.abort();
    }
    return interrupted ? ExitStatus.Interrupted : ExitStatus.Ok;
  } catch (error) {
    if (!(error instanceof KahunaError)) throw error;
    const [kind, status] = failureOf(error.kind);
    reportFailure(io, options.format, { kind, status, message: cliMessage(error), op: options.op });
    return status;
  } finally {
    process.off("SIGINT", onInterrupt);
    client.close();
  }
}
