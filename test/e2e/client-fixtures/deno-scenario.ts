// The runtimes scenario under Deno, importing the TypeScript sources directly, plus an
// `await using` block (Deno supports the syntax; Node 20 does not).
import * as kahuna from "../../../src/client/index.ts";
// @ts-ignore: a plain .mjs module without types, shared with the Node run.
import { scenario } from "./scenario.mjs";

// tsc checks this file with Bun's types; under Deno this is the real global.
declare const Deno: { readonly args: string[] };
const args = Deno.args;
await scenario(kahuna, args, (line: string) => console.log(line));
const client = new kahuna.KahunaClient({ servers: [args[0]!] });
{
  await using lock = await client.getOrCreateLock(`${args[2]}-using`, { expiresMs: 5000 });
  console.log(`using acquired ${lock.isAcquired}`);
}
console.log(`using released ${JSON.stringify(await client.get(`${args[2]}-using`))}`);
