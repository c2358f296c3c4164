/**
 * The OpenAPI document (GET /v1/openapi.json) against the server it describes:
 *
 * - it is a valid OpenAPI 3.1 document (the official schema, via
 *   @seriousme/openapi-schema-validator), and every node of a real cluster serves it;
 * - every route of the Hono app is in it, and every operation in it is a route of the app;
 * - its request schemas accept exactly the bodies the server accepts (edge cases of every
 *   field, sent to the app);
 * - every curl example in docs/api.md, run in order against a real server: its request body
 *   is valid by the document exactly when the server did not answer 400, and both the answer
 *   the server gave and the one the page shows validate against the document's schema for
 *   that path, method and status.
 *
 * Schemas are checked with Ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect), taught the one
 * extension keyword the document uses: x-utf8-bytes-max, a string's bound in UTF-8 bytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type SpecData, Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { memoryApp } from "../../src/http/memory-app.ts";
import { openApiDocument, utf8BytesMaxKeyword } from "../../src/http/openapi.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { repoRoot } from "../helpers/server.ts";
import { codeBlocks } from "./client-fixtures/doc-blocks.ts";

type Json = Record<string, unknown>;

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as Json)
  .version as string;
const document = openApiDocument({ version }) as Json & {
  paths: Record<string, Record<string, Json>>;
};
const docHost = "http://localhost:2070";

function schemaChecker(openApi: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  ajv.addKeyword({
    keyword: utf8BytesMaxKeyword,
    type: "string",
    schemaType: "number",
    validate: (bytesMax: number, data: string) => new TextEncoder().encode(data).length <= bytesMax,
  });
  ajv.addSchema({ ...openApi, $id: "kahuna" });
  const pointer = (...parts: string[]) =>
    parts.map((part) => part.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const check = (ref: string, value: unknown): string | undefined => {
    let validate = compiled.get(ref);
    if (validate === undefined) {
      validate = ajv.compile({ $ref: `kahuna#/${ref}` });
      compiled.set(ref, validate);
    }
    return validate(value) ? undefined : ajv.errorsText(validate.errors);
  };
  return {
    /** Whether a request body is valid for the operation: undefined when it is. */
    request(path: string, method: string, body: unknown): string | undefined {
      return check(
        pointer("paths", path, method, "requestBody", "content", "application/json", "schema"),
        body,
      );
    },
    /** Whether an answer is valid for the operation's response of that status. */
    response(path: string, method: string, status: number, body: unknown): string | undefined {
      const responses = document.paths[path]?.[method]?.["responses"] as Json | undefined;
      const response = responses?.[String(status)] as { content: Json } | undefined;
      if (response === undefined) return `the document has no ${status} for ${method} ${path}`;
      const contentType = Object.keys(response.content)[0]!;
      return check(
        pointer("paths", path, method, "responses", String(status), "content", contentType) +
          "/schema",
        body,
      );
    },
    component(name: string, value: unknown): string | undefined {
      return check(pointer("components", "schemas", name), value);
    },
  };
}

const checker = schemaChecker(document);

test("the document is valid OpenAPI 3.1, and the validator refuses a broken one", async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document) as SpecData);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");

  const broken = structuredClone(document);
  delete (broken["info"] as Json)["title"];
  expect((await new Validator().validate(broken as SpecData)).valid).toBe(false);
});

test("every route of the app is in the document, and every operation is a route", () => {
  const app = memoryApp({ version });
  const served = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL") {
      // The 405 answer for the path's other methods: the path itself must be documented.
      expect({ path: route.path, documented: route.path in document.paths })
        .toEqual({ path: route.path, documented: true });
      continue;
    }
    served.add(`${route.method.toLowerCase()} ${route.path}`);
  }
  const documented = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method} ${path}`)
  );
  expect([...served].sort()).toEqual(documented.sort());
  expect(documented).toContain("get /v1/openapi.json");
});

describe("request schemas and the server's validator agree", () => {
  const text = (bytes: number, unit = "a") =>
    unit.repeat(bytes / new TextEncoder().encode(unit).length);
  const owner = "786f947d8a6643f0b939865f72aa512a";
  const resources: unknown[] = [
    "r",
    "",
    text(512),
    text(513),
    text(512, "é"),
    text(514, "é"),
    text(512, "🔒"),
    text(516, "🔒"),
    "a\u0000b",
    5,
    null,
  ];
  const expirations: unknown[] = [1, 0, -5, 2147483647, 2147483648, 1.5, "ten", null];
  const durabilities: unknown[] = [0, 1, 2, "1", true, null];
  const bodies: [string, unknown][] = [];
  for (const resource of resources) {
    bodies.push(["/v1/locks/get-info", { resource }]);
    bodies.push(["/v1/locks/try-lock", { resource, owner, expiresMs: 1000 }]);
  }
  for (const expiresMs of expirations) {
    bodies.push(["/v1/locks/try-lock", { resource: "r", owner, expiresMs }]);
    bodies.push(["/v1/locks/try-extend", { resource: "r", owner, expiresMs }]);
  }
  for (const durability of durabilities) {
    bodies.push(["/v1/locks/try-unlock", { resource: "r", owner, durability }]);
    bodies.push(["/v1/locks/get-info", { resource: "r", durability }]);
  }
  // Shared locks (docs/spec.md §2.8): each of mode and limit alone, and together.
  const modes: unknown[] = [undefined, "exclusive", "shared", "read", 1, null];
  const limits: unknown[] = [undefined, 1, 2, 1000, 0, 1001, 1.5, "2", null];
  for (const mode of modes) {
    for (const limit of limits) {
      const share = {
        ...(mode === undefined ? {} : { mode }),
        ...(limit === undefined ? {} : { limit }),
      };
      // Each lock its own name: a shared grant must not make the next body Busy by chance.
      bodies.push(["/v1/locks/try-lock", {
        resource: `shared/${bodies.length}`,
        owner,
        expiresMs: 1000,
        ...share,
      }]);
    }
  }
  for (const owner of ["o", "", text(256), text(257), text(256, "é"), text(258, "é"), 7]) {
    bodies.push(["/v1/locks/try-unlock", { resource: "r", owner }]);
  }
  bodies.push(
    ["/v1/locks/try-lock", { resource: "r", owner }],
    ["/v1/locks/try-lock", { resource: "r", owner, expiresMs: 1, ttl: 5 }],
    ["/v1/locks/try-unlock", { resource: "r", owner, expiresMs: 1000 }],
    ["/v1/locks/try-unlock", { resource: "r" }],
    ["/v1/locks/get-info", { resource: "r", owner }],
    ["/v1/locks/get-info", {}],
    ["/v1/locks/get-info", []],
    ["/v1/locks/get-info", "r"],
  );

  test(`${bodies.length} bodies: valid by the document exactly when the server takes them`, async () => {
    const app = memoryApp({ version });
    const disagreements: string[] = [];
    let accepted = 0;
    for (const [path, body] of bodies) {
      const response = await app.request(path, { method: "POST", body: JSON.stringify(body) });
      const answer = await response.json();
      const problem = checker.request(path, "post", body);
      if ((problem === undefined) !== (response.status !== 400)) {
        disagreements.push(
          `${path} ${JSON.stringify(body).slice(0, 80)}: server ${response.status} ` +
            `${JSON.stringify(answer).slice(0, 120)}, document ${problem ?? "valid"}`,
        );
      }
      if (response.status !== 400) accepted += 1;
      const responseProblem = checker.response(path, "post", response.status, answer);
      if (responseProblem !== undefined) disagreements.push(`${path}: answer ${responseProblem}`);
    }
    expect(disagreements).toEqual([]);
    // Both kinds are exercised: the test would notice a schema that accepts or refuses all.
    expect(accepted).toBeGreaterThanOrEqual(15);
    expect(bodies.length - accepted).toBeGreaterThanOrEqual(25);
  });
});

type CurlExample = {
  readonly line: number;
  readonly method: "get" | "post";
  readonly path: string;
  readonly body: string | undefined;
  readonly piped: boolean;
  readonly shown: { readonly language: string; readonly code: string } | undefined;
};

function curlExamples(markdown: string): CurlExample[] {
  const blocks = codeBlocks(markdown);
  const found: CurlExample[] = [];
  blocks.forEach((block, index) => {
    if (block.language !== "sh" || !block.code.includes("curl")) return;
    const command = block.code.replaceAll("\\\n", " ");
    const url = new RegExp(`${docHost}(\\S*)`).exec(command);
    if (url === null) throw new Error(`docs/api.md:${block.line}: no ${docHost} URL`);
    const body = /-d '([^']*)'/.exec(command)?.[1];
    const next = blocks[index + 1];
    found.push({
      line: block.line,
      method: body === undefined ? "get" : "post",
      path: url[1]!,
      body,
      piped: command.includes("|"),
      shown: next === undefined ? undefined : { language: next.language, code: next.code },
    });
  });
  return found;
}

describe("a real cluster", () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(3, { partitions: 2 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("every node serves the document, naming package.json's version", async () => {
    for (const node of cluster.nodes) {
      const response = await fetch(`${node.url}/v1/openapi.json`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith("application/json");
      const served = (await response.json()) as Json;
      expect(served).toEqual(document);
      expect((served["info"] as Json)["version"]).toBe(version);
      expect(checker.response("/v1/openapi.json", "get", 200, served)).toBeUndefined();
    }
  });

  test("every curl example in docs/api.md agrees with the document", async () => {
    const examples = curlExamples(readFileSync(join(repoRoot, "docs/api.md"), "utf8"));
    expect(examples.length).toBeGreaterThanOrEqual(16);
    expect(examples.some((example) => example.path === "/v1/openapi.json")).toBe(true);
    const url = cluster.nodes[0]!.url;
    const problems: string[] = [];
    let invalidRequests = 0;
    for (const example of examples) {
      const where = `docs/api.md:${example.line} ${example.method.toUpperCase()} ${example.path}`;
      const response = await fetch(`${url}${example.path}`, {
        method: example.method.toUpperCase(),
        ...(example.body === undefined ? {} : { body: example.body }),
      });
      const text = await response.text();
      const operation = document.paths[example.path]?.[example.method];
      const isJson = response.headers.get("content-type")?.startsWith("application/json");
      const answer: unknown = isJson ? JSON.parse(text) : text;
      if (operation === undefined) {
        // An unknown path (404) or another method (405): the InvalidInput body.
        if (![404, 405].includes(response.status)) problems.push(`${where}: ${response.status}`);
        const problem = checker.component("InvalidInput", answer);
        if (problem !== undefined) problems.push(`${where}: answer ${problem}`);
        continue;
      }
      if (example.body !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(example.body);
        } catch {
          parsed = example.body; // not JSON: a string, which no request schema takes
        }
        const problem = checker.request(example.path, example.method, parsed);
        if (problem !== undefined) invalidRequests += 1;
        if ((problem === undefined) !== (response.status !== 400)) {
          problems.push(`${where}: server ${response.status}, document says ${problem ?? "valid"}`);
        }
      }
      const actual = checker.response(example.path, example.method, response.status, answer);
      if (actual !== undefined) problems.push(`${where}: the server's answer ${actual}`);
      const shown = example.shown;
      if (!example.piped && shown?.language === "json") {
        const problem = checker.response(
          example.path,
          example.method,
          response.status,
          JSON.parse(shown.code),
        );
        if (problem !== undefined) problems.push(`${where}: the answer shown ${problem}`);
      }
    }
    expect(problems).toEqual([]);
    expect(invalidRequests).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
