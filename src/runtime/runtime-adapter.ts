/**
 * What the runtime glue needs from Bun or Deno. Each runtime implements it in its own
 * adapter folder; `loadRuntime` picks one with a dynamic import, so neither runtime ever
 * loads the other's modules (STYLE.md §1).
 */
import type { SqlDatabase } from "../adapters/sqlite-log-store.ts";

export type HttpListener = { readonly port: number; stop(): Promise<void> };

export type RuntimeAdapter = {
  readonly name: "bun" | "deno";
  openDatabase(path: string): SqlDatabase;
  serveHttp(options: {
    hostname: string;
    port: number;
    fetch: (request: Request) => Response | Promise<Response>;
  }): HttpListener;
  /** Calls `handler` on SIGINT and SIGTERM. */
  onSignals(handler: (signal: string) => void): void;
  exit(code: number): never;
};

export function runtimeName(): "bun" | "deno" {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  if (global.Bun !== undefined) return "bun";
  if (global.Deno !== undefined) return "deno";
  throw new Error("kahuna runs on Bun or Deno; this runtime is neither");
}

export async function loadRuntime(): Promise<RuntimeAdapter> {
  if (runtimeName() === "bun") return (await import("../adapters/bun/runtime.ts")).bunRuntime;
  const denoModule = "../adapters/deno/runtime.ts";
  return (await import(denoModule)).denoRuntime as RuntimeAdapter;
}
