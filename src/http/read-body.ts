/**
 * Reads a request body as UTF-8 text without ever holding more than `bytesMax` bytes: a
 * declared Content-Length over the limit is refused before reading, and a body without one
 * (chunked) is read only until it passes the limit, then the stream is cancelled.
 */
import { assert } from "../assert.ts";

export type BodyRead =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "tooLarge"; readonly bytesMax: number }
  | { readonly kind: "notUtf8" };

export async function readBodyText(request: Request, bytesMax: number): Promise<BodyRead> {
  assert(Number.isInteger(bytesMax) && bytesMax > 0, "the body limit is a positive integer");
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > bytesMax) {
    return { kind: "tooLarge", bytesMax };
  }
  if (request.body === null) return { kind: "text", text: "" };
  if (declared !== null && /^\d+$/.test(declared.trim())) {
    // A declared length within the limit: the runtime reads exactly that much at once, which
    // costs far less than pulling the stream chunk by chunk.
    return decodeUtf8(new Uint8Array(await request.arrayBuffer()));
  }

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > bytesMax) {
      // Stop reading here: the rest of the body is never buffered.
      await reader.cancel().catch(() => undefined);
      return { kind: "tooLarge", bytesMax };
    }
    chunks.push(value);
  }
  assert(bytes <= bytesMax, "a body read in full is within the limit");
  const all = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decodeUtf8(all);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): BodyRead {
  try {
    return { kind: "text", text: utf8.decode(bytes) };
  } catch {
    return { kind: "notUtf8" };
  }
}
