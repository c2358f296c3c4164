/**
 * The OpenAPI 3.1 document of the REST API, served at GET /v1/openapi.json. Pure: it is built
 * from the route table (api-routes.ts), the lock-request fields and their limits
 * (src/codec/lock-fields.ts), and the status each response type is answered with
 * (lock-answer.ts), which are the same tables the server validates and answers by. Nothing
 * here restates a limit.
 *
 * JSON Schema counts a string's length in characters; kahuna counts UTF-8 bytes. A text field
 * therefore has `maxLength` (a string within the byte bound never has more characters than
 * bytes) and the exact bound in the extension keyword `x-utf8-bytes-max`.
 */
import { assert, unreachable } from "../assert.ts";
import { lockFields, lockRequestFields, requiredFields } from "../codec/lock-fields.ts";
import type { FieldSpec, LockField } from "../codec/lock-fields.ts";
import { httpBodyBytesMax } from "../constants.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockOp } from "../locks/types.ts";
import { apiRoutes } from "./api-routes.ts";
import type { JsonSchema, LockRoute, ReadRoute } from "./api-routes.ts";
import { httpStatusOf, retryAfterSeconds } from "./lock-answer.ts";

export type DocumentInfo = { readonly version: string };

/** The extension keyword that carries a text field's bound in UTF-8 bytes. */
export const utf8BytesMaxKeyword = "x-utf8-bytes-max";

const typeNames = Object.fromEntries(
  Object.entries(ResponseType).map(([name, value]) => [value, name]),
) as Record<ResponseType, string>;

export function openApiDocument(info: DocumentInfo): JsonSchema {
  assert(info.version !== "", "the document names a version");
  const paths: Record<string, JsonSchema> = {};
  for (const route of apiRoutes) {
    const operation = route.kind === "lock" ? lockOperation(route) : readOperation(route);
    paths[route.path] = { [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "kahuna",
      version: info.version,
      summary: "A distributed lock server: leases with fencing tokens, replicated by Raft.",
      description: "Any node answers any request: it forwards a lock request to the leader of " +
        "the lock's partition. Every lock answer is a JSON object with a `type` (the numbers " +
        "of Kahuna's LockResponseType); 4xx and 5xx answers also have an `error` a person " +
        "reads. A path that is not listed here is answered 404, and a listed path asked with " +
        "another method 405 with an `Allow` header, both with the InvalidInput body. " +
        "A lock request body is read as JSON whatever its Content-Type, and may be at most " +
        `${httpBodyBytesMax} bytes (413 beyond).`,
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: [
      { name: "locks", description: "Take, keep, release and look at locks." },
      { name: "operations", description: "Health, cluster state, metrics and this document." },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "A client token from `kahuna auth add`, needed when the node runs " +
            "with --auth-file (docs/security.md).",
        },
      },
    },
  };
}

function schemaName(op: LockOp): string {
  const names = {
    tryLock: "TryLock",
    extend: "TryExtend",
    unlock: "TryUnlock",
    get: "GetInfo",
    watch: "Watch",
  };
  return names[op];
}

function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

function json(schema: JsonSchema): JsonSchema {
  return { "application/json": { schema } };
}

function lockOperation(route: LockRoute): JsonSchema {
  const answer = route.op === "get"
    ? "GetInfoAnswer"
    : route.op === "watch"
    ? "WatchAnswer"
    : "LockAnswer";
  const outcomes = route.outcomes.map((type) => `${type} (${typeNames[type]})`).join(", ");
  assert(
    route.outcomes.every((type) => httpStatusOf[type] === 200),
    "a lock route's outcomes are definite answers",
  );
  const outcome = {
    description: `A definite answer: \`type\` is one of ${outcomes}.`,
    content: json({
      allOf: [ref(answer), { properties: { type: { enum: [...route.outcomes] } } }],
    }),
  };
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: route.description,
    tags: ["locks"],
    requestBody: { required: true, content: json(ref(`${schemaName(route.op)}Request`)) },
    // A token when the node runs with --auth-file, none otherwise.
    security: [{ bearer: [] }, {}],
    responses: {
      "200": outcome,
      ...errorResponses(),
    },
  };
}

/** The answers every lock route may give besides a definite one, by status. */
function errorResponses(): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  const what: Partial<Record<ResponseType, string>> = {
    [ResponseType.InvalidInput]: "The request is wrong: `error` names the field and what is " +
      "allowed. Fix it; do not retry as is.",
    [ResponseType.MustRetry]: "The lock's partition has no leader right now, or the node is " +
      "not ready: retry after Retry-After seconds, on this or another node.",
    [ResponseType.Indeterminate]: "A persistent write was proposed but its outcome is unknown: " +
      "retry with the same owner.",
    [ResponseType.Errored]: "A bug in kahuna; the server logged it.",
    ...authResponseText,
  };
  for (const [type, description] of Object.entries(what)) {
    const responseType = Number(type) as ResponseType;
    const status = String(httpStatusOf[responseType]);
    responses[status] = {
      description,
      content: json(ref(typeNames[responseType])),
      ...(responseType === ResponseType.MustRetry ? { headers: retryAfterHeader() } : {}),
    };
  }
  responses["413"] = {
    description: `The body is over ${httpBodyBytesMax} bytes.`,
    content: json(ref(typeNames[ResponseType.InvalidInput])),
  };
  return responses;
}

/** Only from a node started with --auth-file (docs/security.md). */
const authResponseText: Partial<Record<ResponseType, string>> = {
  [ResponseType.Unauthorized]: "Only with --auth-file: no token, or one that matches no " +
    "client. Send `Authorization: Bearer TOKEN`.",
  [ResponseType.Forbidden]: "Only with --auth-file: the token's client may not do this to " +
    "this resource; `error` names the client, the resource and the prefixes it may use.",
};

/** 401 and 403, as a route that needs a token (an admin one for read routes) may answer. */
function authResponses(): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  for (const [type, description] of Object.entries(authResponseText)) {
    const responseType = Number(type) as ResponseType;
    responses[String(httpStatusOf[responseType])] = {
      description,
      content: json(ref(typeNames[responseType])),
    };
  }
  return responses;
}

function retryAfterHeader(): JsonSchema {
  return {
    "Retry-After": {
      description: "Seconds to wait before retrying.",
      schema: { type: "integer", const: retryAfterSeconds },
    },
  };
}

function readOperation(route: ReadRoute): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    const headers = Object.entries(response.headers ?? {}).map(([name, description]) => [
      name,
      { description, schema: { type: "integer" } },
    ]);
    responses[status] = {
      description: response.description,
      content: { [response.contentType]: { schema: response.schema } },
      ...(headers.length === 0 ? {} : { headers: Object.fromEntries(headers) }),
    };
  }
  const needsToken = route.id === "cluster" || route.id === "metrics";
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: route.description,
    tags: ["operations"],
    // With --auth-file, these two need an admin client's token; the others are always open.
    ...(needsToken ? { security: [{ bearer: [] }, {}] } : {}),
    responses: { ...responses, ...(needsToken ? authResponses() : {}) },
  };
}

function componentSchemas(): Record<string, JsonSchema> {
  const schemas: Record<string, JsonSchema> = {};
  for (const [field, spec] of Object.entries(lockFields) as [LockField, FieldSpec][]) {
    schemas[componentOf(field)] = fieldSchema(spec);
  }
  for (const op of Object.keys(lockRequestFields) as LockOp[]) {
    schemas[`${schemaName(op)}Request`] = requestSchema(op);
  }
  const outcomeTypes = (Object.keys(httpStatusOf).map(Number) as ResponseType[])
    .filter((type) => httpStatusOf[type] === 200);
  schemas["LockAnswer"] = {
    type: "object",
    description: "The answer of try-lock, try-unlock and try-extend.",
    required: ["type", "fencingToken"],
    properties: {
      type: {
        enum: outcomeTypes.filter((type) =>
          type !== ResponseType.Got && type !== ResponseType.Watched
        ),
      },
      fencingToken: fencingToken(),
    },
  };
  schemas["GetInfoAnswer"] = {
    type: "object",
    description: "The answer of get-info: with Got, who holds the lock; otherwise owner null " +
      "and zero times.",
    required: ["type", "owner", "fencingToken", "expiresMs", "expires"],
    properties: {
      type: { enum: [ResponseType.Got, ResponseType.LockDoesNotExist] },
      owner: { type: ["string", "null"] },
      fencingToken: fencingToken(),
      expiresMs: { type: "integer", minimum: 0, description: "The lease left, in ms." },
      expires: {
        type: "integer",
        minimum: 0,
        description: "The answering node's wall clock plus expiresMs, in Unix milliseconds: " +
          "for display only (leases are never measured by comparing wall clocks).",
      },
      value: {
        type: "string",
        description: "Only with Got, when the holder published one: its value.",
      },
      holders: {
        type: "array",
        description: "Only with Got of a shared lock: every holder, oldest grant first (the " +
          "newest is also the answer's owner, fencingToken and expiresMs).",
        items: {
          type: "object",
          required: ["owner", "fencingToken", "expiresMs"],
          properties: {
            owner: { type: "string" },
            fencingToken: fencingToken(),
            expiresMs: { type: "integer", minimum: 1 },
            value: { type: "string" },
          },
        },
      },
      limit: {
        type: "integer",
        minimum: 1,
        description: "Only with Got of a shared lock: the most holders it admits now.",
      },
    },
  };
  schemas["WatchEvent"] = {
    type: "object",
    description: "One event of a watched lock: its state (first, or in place of what was " +
      "missed), or a change of holder.",
    required: ["kind", "cursor", "owner", "fencingToken"],
    properties: {
      kind: { enum: ["state", "acquired", "proclaimed", "released", "expired"] },
      cursor: { type: "string", description: "Send it as `after` to resume after this event." },
      owner: {
        type: "string",
        description: 'The holder the change is about; for a state, the holder now ("" when free).',
      },
      fencingToken: fencingToken(),
      expiresMs: {
        type: "integer",
        minimum: 0,
        description: "Acquired: the lease granted. A held state: the lease left.",
      },
      value: {
        type: "string",
        description: "Acquired, proclaimed, a held state: the holder's published value, if any.",
      },
    },
  };
  schemas["WatchAnswer"] = {
    type: "object",
    description: "The answer of watch: the lock's changes after `after`, oldest first.",
    required: ["type", "cursor", "missed", "events"],
    properties: {
      type: { const: ResponseType.Watched },
      cursor: {
        type: "string",
        description: "The cursor to send as `after` next: the last event's, or the request's " +
          "own when the wait ended with no change.",
      },
      missed: {
        type: "boolean",
        description: "True when the changes after `after` are not known here (a new leader, " +
          "or more than the history keeps): `events` is then the lock's state.",
      },
      events: { type: "array", items: ref("WatchEvent") },
    },
  };
  const errorTypes = [
    ResponseType.InvalidInput,
    ResponseType.MustRetry,
    ResponseType.Indeterminate,
    ResponseType.Errored,
    ResponseType.Unauthorized,
    ResponseType.Forbidden,
  ];
  for (const type of errorTypes) {
    schemas[typeNames[type]] = errorSchema(type);
  }
  return schemas;
}

function componentOf(field: LockField): string {
  return field[0]!.toUpperCase() + field.slice(1);
}

function fieldSchema(spec: FieldSpec): JsonSchema {
  switch (spec.kind) {
    case "text":
      return {
        type: "string",
        minLength: 1,
        maxLength: spec.bytesMax,
        [utf8BytesMaxKeyword]: spec.bytesMax,
        ...(spec.pattern !== undefined
          ? { pattern: spec.pattern }
          : spec.noNul
          ? { pattern: "^[^\\u0000]*$" }
          : {}),
        description: `${spec.description} 1 to ${spec.bytesMax} UTF-8 bytes` +
          `${spec.noNul ? ", no NUL (U+0000)" : ""}, well-formed Unicode.`,
      };
    case "integer":
      return {
        type: "integer",
        minimum: spec.min,
        maximum: spec.max,
        ...(spec.default === undefined ? {} : { default: spec.default }),
        description: spec.description,
      };
    case "choice":
      return {
        enum: spec.choices.map((choice) => choice.value),
        default: spec.default,
        description: `${spec.description} ${
          spec.choices.map((choice) => `${choice.value} = ${choice.name}`).join(", ")
        }; omitted means ${spec.default}.`,
      };
    case "word":
      return {
        enum: [...spec.words],
        default: spec.default,
        description: `${spec.description} Omitted means ${JSON.stringify(spec.default)}.`,
      };
    default:
      return unreachable(spec);
  }
}

function requestSchema(op: LockOp): JsonSchema {
  const fields: readonly LockField[] = lockRequestFields[op];
  const schema: JsonSchema = {
    type: "object",
    description: "Exactly these fields: one it does not take is an error, not ignored.",
    required: requiredFields(op),
    additionalProperties: false,
    properties: Object.fromEntries(fields.map((field) => [field, ref(componentOf(field))])),
  };
  if (op !== "tryLock") return schema;
  // A limit is a shared lock's: with mode exclusive the server refuses it.
  return {
    ...schema,
    not: { required: ["mode", "limit"], properties: { mode: { const: "exclusive" } } },
  };
}

function fencingToken(): JsonSchema {
  return {
    type: "integer",
    minimum: 0,
    description: "Grows with every grant of the lock, never reused; 0 when not granted.",
  };
}

function errorSchema(type: ResponseType): JsonSchema {
  return {
    type: "object",
    description: `Type ${type} (${typeNames[type]}), HTTP ${httpStatusOf[type]}` +
      `${type === ResponseType.InvalidInput ? " (or 404, 405, 413)" : ""}.`,
    required: ["type", "error"],
    properties: { type: { const: type }, error: { type: "string" } },
  };
}
