/**
 * msgpack for the wire (docs/architecture.md), the subset kahuna speaks: nil, booleans, integers,
 * floats, strings, binary, arrays and maps with string keys. Written for the hot path: every
 * request, answer and Raft message goes through it, and a general-purpose codec spent most
 * of a node's time on them (docs/performance.md).
 *
 * Decoding is strict and bounded, because its input comes from clients, peers and disk:
 * every length is checked against the bytes left before anything is allocated, nesting is
 * at most `depthMax` deep, strings must be valid UTF-8, integers must be safe JavaScript
 * integers, a map key must be a string other than `__proto__`, extension types are refused,
 * and there must be nothing after the value. Anything else throws a MsgpackError.
 *
 * Encoding writes the smallest form of each value, as other msgpack encoders do: integers
 * as the smallest integer type, other numbers as float64, `undefined` as nil (as in
 * arrays and maps). Anything else (bigint, functions, class instances other than
 * Uint8Array) throws: it is a bug in the caller, not input.
 */

export class MsgpackError extends Error {
  override name = "MsgpackError";
}

/** How deep arrays and maps may nest in a decoded value. */
export const depthMax = 32;

export type DecodeOptions = {
  /** Strings come back as their UTF-8 bytes, for the caller to check and decode. */
  readonly rawStrings?: boolean;
};

// ignoreBOM: a string that starts with U+FEFF keeps it (by default TextDecoder drops it, and
// "\uFEFFx" would name the same lock as "x" over this protocol but not over REST).
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/** Decodes one msgpack value that fills `bytes` exactly. Throws MsgpackError. */
export function decodeMsgpack(bytes: Uint8Array, options?: DecodeOptions): unknown {
  const reader = new Reader(bytes, options?.rawStrings === true);
  const value = reader.value(0);
  if (reader.at !== bytes.length) {
    throw new MsgpackError(`${bytes.length - reader.at} byte(s) after the value`);
  }
  return value;
}

class Reader {
  at = 0;
  /** Made only for the rare 64-bit and float values: asking a fresh Uint8Array for its buffer
   * makes the engine materialize one, which cost more than the rest of a small decode. */
  #view: DataView | undefined;

  constructor(readonly bytes: Uint8Array, readonly rawStrings: boolean) {}

  #dataView(): DataView {
    this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.#view;
  }

  value(depth: number): unknown {
    const type = this.#u8();
    if (type <= 0x7f) return type;
    if (type >= 0xe0) return type - 0x100;
    if (type <= 0x8f) return this.#map(type & 0x0f, depth);
    if (type <= 0x9f) return this.#array(type & 0x0f, depth);
    if (type <= 0xbf) return this.#string(type & 0x1f);
    switch (type) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.#binary(this.#u8());
      case 0xc5:
        return this.#binary(this.#u16());
      case 0xc6:
        return this.#binary(this.#u32());
      case 0xca:
        return this.#dataView().getFloat32(this.#take(4));
      case 0xcb:
        return this.#dataView().getFloat64(this.#take(8));
      case 0xcc:
        return this.#u8();
      case 0xcd:
        return this.#u16();
      case 0xce:
        return this.#u32();
      case 0xcf:
        return safe(this.#dataView().getBigUint64(this.#take(8)));
      case 0xd0:
        return (this.#u8() << 24) >> 24;
      case 0xd1:
        return (this.#u16() << 16) >> 16;
      case 0xd2:
        return this.#u32() | 0;
      case 0xd3:
        return safe(this.#dataView().getBigInt64(this.#take(8)));
      case 0xd9:
        return this.#string(this.#u8());
      case 0xda:
        return this.#string(this.#u16());
      case 0xdb:
        return this.#string(this.#u32());
      case 0xdc:
        return this.#array(this.#u16(), depth);
      case 0xdd:
        return this.#array(this.#u32(), depth);
      case 0xde:
        return this.#map(this.#u16(), depth);
      case 0xdf:
        return this.#map(this.#u32(), depth);
      default: // 0xc1 (never used) and the extension types
        throw new MsgpackError(`type 0x${type.toString(16)} at byte ${this.at - 1} is not allowed`);
    }
  }

  #array(length: number, depth: number): unknown[] {
    this.#nest(length, depth);
    const items = new Array<unknown>(length);
    for (let i = 0; i < length; i++) items[i] = this.value(depth + 1);
    return items;
  }

  #map(length: number, depth: number): Record<string, unknown> {
    this.#nest(2 * length, depth);
    const map: Record<string, unknown> = {};
    for (let i = 0; i < length; i++) {
      const key = this.#key();
      if (key === "__proto__") throw new MsgpackError("map key __proto__ is not allowed");
      map[key] = this.value(depth + 1);
    }
    return map;
  }

  #key(): string {
    const type = this.#u8();
    const length = type >= 0xa0 && type <= 0xbf
      ? type & 0x1f
      : type === 0xd9
      ? this.#u8()
      : type === 0xda
      ? this.#u16()
      : -1;
    if (length < 0) throw new MsgpackError(`map key at byte ${this.at - 1} is not a string`);
    return this.#text(length);
  }

  /** Each element takes at least one byte: more than the bytes left is a lie. */
  #nest(elements: number, depth: number): void {
    if (depth >= depthMax) throw new MsgpackError(`nested deeper than ${depthMax}`);
    if (elements > this.bytes.length - this.at) {
      throw new MsgpackError(
        `${elements} elements declared, ${this.bytes.length - this.at} bytes left`,
      );
    }
  }

  #string(length: number): string | Uint8Array {
    return this.rawStrings ? this.#binary(length) : this.#text(length);
  }

  #text(length: number): string {
    const start = this.#take(length);
    const end = start + length;
    const bytes = this.bytes;
    if (length <= cachedBytesMax) return cachedText(bytes, start, length) ?? this.#utf8(start, end);
    // The native decoder, not a loop of concatenations: those build a rope that the first
    // reader of the string (a length check, a map lookup) pays to flatten.
    return this.#utf8(start, end);
  }

  #utf8(start: number, end: number): string {
    try {
      return strictUtf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw new MsgpackError(`string at byte ${start} is not valid UTF-8`);
    }
  }

  #binary(length: number): Uint8Array {
    const start = this.#take(length);
    return this.bytes.slice(start, start + length);
  }

  #u8(): number {
    return this.bytes[this.#take(1)]!;
  }

  #u16(): number {
    const at = this.#take(2);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  #u32(): number {
    const at = this.#take(4);
    const b = this.bytes;
    return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  }

  /** Claims `count` bytes and returns where they start. */
  #take(count: number): number {
    const start = this.at;
    if (count > this.bytes.length - start) {
      throw new MsgpackError(`ends inside a value (byte ${start}, ${count} more needed)`);
    }
    this.at = start + count;
    return start;
  }
}

/**
 * Short strings repeat: map keys, op names, node ids. A small table keyed by a hash of the
 * bytes hands back the same string without building it again. ASCII only; undefined for
 * anything else, which the caller decodes as UTF-8.
 */
const cachedBytesMax = 16;
const cacheSlots = 1024;
const cacheBytes: (Uint8Array | undefined)[] = new Array(cacheSlots).fill(undefined);
const cacheTexts: string[] = new Array(cacheSlots).fill("");

function cachedText(bytes: Uint8Array, start: number, length: number): string | undefined {
  let hash = length;
  for (let i = 0; i < length; i++) {
    const byte = bytes[start + i]!;
    if (byte >= 0x80) return undefined;
    hash = (Math.imul(hash, 31) + byte) | 0;
  }
  const slot = (hash ^ (hash >>> 10)) & (cacheSlots - 1);
  const known = cacheBytes[slot];
  if (known !== undefined && known.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (known[i] !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cacheTexts[slot];
  }
  const text = strictUtf8.decode(bytes.subarray(start, start + length));
  cacheBytes[slot] = bytes.slice(start, start + length);
  cacheTexts[slot] = text;
  return text;
}

function safe(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MsgpackError(`integer ${value} is beyond 2^53`);
  }
  return Number(value);
}

/** Encodes `value` as msgpack. Reuses one growing buffer; the result is a fresh copy. */
export function encodeMsgpack(value: unknown): Uint8Array {
  writer.at = 0;
  writer.value(value, 0);
  const bytes = writer.bytes.slice(0, writer.at);
  // A snapshot can grow the buffer to megabytes: do not keep that for the small messages.
  if (writer.bytes.length > writerBytesKept) writer = new Writer();
  return bytes;
}

const writerBytesKept = 1 << 20;

/**
 * An upper bound on the bytes `encodeMsgpack(value)` writes, without encoding: 9 for a
 * number, 5 of header for a string, binary, array or map, and 3 bytes of UTF-8 per UTF-16
 * unit of a string. The frame builder sizes frames with it before encoding them.
 */
export function msgpackBytesBound(value: unknown): number {
  switch (typeof value) {
    case "number":
      return 9;
    case "string":
      return 5 + 3 * value.length;
    case "object": {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return 5 + value.length;
      let bytes = 5;
      if (Array.isArray(value)) {
        for (const item of value) bytes += msgpackBytesBound(item);
        return bytes;
      }
      for (const [key, item] of Object.entries(value)) {
        bytes += 5 + 3 * key.length + msgpackBytesBound(item);
      }
      return bytes;
    }
    default:
      return 1;
  }
}

class Writer {
  at = 0;
  bytes = new Uint8Array(4096);
  #view = new DataView(this.bytes.buffer);

  value(value: unknown, depth: number): void {
    if (depth > depthMax) throw new MsgpackError(`nested deeper than ${depthMax}`);
    switch (typeof value) {
      case "number":
        return this.#number(value);
      case "string":
        return this.#string(value);
      case "boolean":
        return this.#u8(value ? 0xc3 : 0xc2);
      case "undefined":
        return this.#u8(0xc0);
      case "object":
        if (value === null) return this.#u8(0xc0);
        if (Array.isArray(value)) {
          this.#header(value.length, 0x90, 0xdc);
          for (const item of value) this.value(item, depth + 1);
          return;
        }
        if (value instanceof Uint8Array) return this.#binary(value);
        if (Object.getPrototypeOf(value) === Object.prototype) {
          const keys = Object.keys(value);
          this.#header(keys.length, 0x80, 0xde);
          for (const key of keys) {
            this.#string(key);
            this.value((value as Record<string, unknown>)[key], depth + 1);
          }
          return;
        }
    }
    throw new MsgpackError(`cannot encode ${typeof value} ${String(value).slice(0, 40)}`);
  }

  #number(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.#u8(0xcb);
      return this.#eight((view, at) => view.setFloat64(at, n));
    }
    if (n >= 0) {
      if (n <= 0x7f) return this.#u8(n);
      if (n <= 0xff) {
        this.#u8(0xcc);
        return this.#u8(n);
      }
      if (n <= 0xffff) {
        this.#u8(0xcd);
        return this.#u16(n);
      }
      if (n <= 0xffffffff) {
        this.#u8(0xce);
        return this.#u32(n);
      }
      this.#u8(0xcf);
      return this.#eight((view, at) => view.setBigUint64(at, BigInt(n)));
    }
    if (n >= -0x20) return this.#u8(n + 0x100);
    if (n >= -0x80) {
      this.#u8(0xd0);
      return this.#u8(n & 0xff);
    }
    if (n >= -0x8000) {
      this.#u8(0xd1);
      return this.#u16(n);
    }
    if (n >= -0x80000000) {
      this.#u8(0xd2);
      return this.#u32(n);
    }
    this.#u8(0xd3);
    this.#eight((view, at) => view.setBigInt64(at, BigInt(n)));
  }

  #string(text: string): void {
    const length = text.length;
    // ASCII is written directly, with the header sized from the length (one byte per
    // character); the first other character falls back to the UTF-8 encoder.
    if (length < 32) {
      const header = this.#room(1 + length);
      let ascii = true;
      for (let i = 0; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) {
          ascii = false;
          break;
        }
        this.bytes[header + 1 + i] = code;
      }
      if (ascii) {
        this.bytes[header] = 0xa0 | length;
        return;
      }
      this.at = header;
    }
    // At most 3 bytes per UTF-16 unit; the header is written once the size is known.
    this.#room(5 + 3 * length);
    const start = this.at - (5 + 3 * length);
    const { written } = utf8.encodeInto(text, this.bytes.subarray(start + 5));
    const size = written;
    this.at = start;
    if (size < 32) this.#u8(0xa0 | size);
    else if (size <= 0xff) {
      this.#u8(0xd9);
      this.#u8(size);
    } else if (size <= 0xffff) {
      this.#u8(0xda);
      this.#u16(size);
    } else {
      this.#u8(0xdb);
      this.#u32(size);
    }
    this.bytes.copyWithin(this.at, start + 5, start + 5 + size);
    this.at += size;
  }

  #binary(data: Uint8Array): void {
    const size = data.length;
    if (size <= 0xff) {
      this.#u8(0xc4);
      this.#u8(size);
    } else if (size <= 0xffff) {
      this.#u8(0xc5);
      this.#u16(size);
    } else {
      this.#u8(0xc6);
      this.#u32(size);
    }
    const at = this.#room(size);
    this.bytes.set(data, at);
  }

  #header(length: number, fix: number, type16: number): void {
    if (length < 16) return this.#u8(fix | length);
    if (length <= 0xffff) {
      this.#u8(type16);
      return this.#u16(length);
    }
    this.#u8(type16 + 1);
    this.#u32(length);
  }

  #u8(byte: number): void {
    const at = this.#room(1);
    this.bytes[at] = byte;
  }

  /** Big-endian, from the low 16 bits (so a negative int16 writes its two's complement). */
  #u16(value: number): void {
    const at = this.#room(2);
    this.bytes[at] = (value >>> 8) & 0xff;
    this.bytes[at + 1] = value & 0xff;
  }

  /** Big-endian, from the low 32 bits. */
  #u32(value: number): void {
    const at = this.#room(4);
    this.bytes[at] = (value >>> 24) & 0xff;
    this.bytes[at + 1] = (value >>> 16) & 0xff;
    this.bytes[at + 2] = (value >>> 8) & 0xff;
    this.bytes[at + 3] = value & 0xff;
  }

  /** Eight bytes through the view; the room is claimed first, as growing replaces the view. */
  #eight(write: (view: DataView, at: number) => void): void {
    const at = this.#room(8);
    write(this.#view, at);
  }

  /** Makes room for `count` more bytes, claims them and returns where they start. */
  #room(count: number): number {
    const start = this.at;
    const end = start + count;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, start));
      this.bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.at = end;
    return start;
  }
}

let writer = new Writer();
