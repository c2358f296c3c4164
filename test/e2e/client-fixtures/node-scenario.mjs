// The runtimes scenario under Node 20, importing the built client (compile/build-client.ts).
import * as kahuna from "../../../dist/kahuna-client/index.js";
import { scenario } from "./scenario.mjs";

await scenario(kahuna, process.argv.slice(2), (line) => console.log(line));
