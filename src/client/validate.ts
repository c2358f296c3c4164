/**
 * Input checks done by the client before anything is sent, with the same limits and the same
 * wording style as the server's 400 answers, so a mistake is reported without a round trip.
 */
import {
  expiresMsMax,
  expiresMsMin,
  ownerBytesMax,
  resourceBytesMax,
  valueBytesMax,
} from "../constants.ts";
import { Durability } from "../locks/types.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";

const encoder = new TextEncoder();

function invalid(message: string): KahunaError {
  return new KahunaError(KahunaErrorKind.InvalidInput, message);
}

function checkName(field: string, value: unknown, bytesMax: number): void {
  if (typeof value !== "string") {
    throw invalid(`${field} must be a string, got ${describe(value)}`);
  }
  const bytes = encoder.encode(value).length;
  if (bytes < 1 || bytes > bytesMax) {
    throw invalid(`${field} must be 1 to ${bytesMax} bytes of UTF-8, got ${bytes} bytes`);
  }
  if (value.includes("\0")) throw invalid(`${field} must not contain NUL characters`);
}

export function checkResource(resource: unknown): asserts resource is string {
  checkName("resource", resource, resourceBytesMax);
}

export function checkOwner(owner: unknown): asserts owner is string {
  checkName("owner", owner, ownerBytesMax);
}

/** A published value: 1 to 256 UTF-8 bytes. */
export function checkValue(value: unknown): asserts value is string {
  checkName("value", value, valueBytesMax);
}

export function checkExpiresMs(expiresMs: unknown): asserts expiresMs is number {
  const ok = typeof expiresMs === "number" && Number.isInteger(expiresMs) &&
    expiresMs >= expiresMsMin && expiresMs <= expiresMsMax;
  if (!ok) {
    throw invalid(
      `expiresMs must be an integer from ${expiresMsMin} to ${expiresMsMax}, got ${
        describe(expiresMs)
      }`,
    );
  }
}

export function checkDurability(durability: unknown): asserts durability is Durability {
  if (durability !== Durability.Ephemeral && durability !== Durability.Persistent) {
    throw invalid(
      `durability must be 0 (Ephemeral) or 1 (Persistent), got ${describe(durability)}`,
    );
  }
}

export function checkMs(field: string, value: unknown, min: number): asserts value is number {
  const ok = typeof value === "number" && Number.isInteger(value) && value >= min &&
    value <= expiresMsMax;
  if (!ok) {
    throw invalid(
      `${field} must be an integer from ${min} to ${expiresMsMax}, got ${describe(value)}`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === undefined) return "nothing";
  return typeof value;
}
