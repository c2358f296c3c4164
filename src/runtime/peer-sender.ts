/**
 * The node id a peer frame claims to come from, read from the frame's first bytes without
 * decoding the rest: a frame is the msgpack array [version, from, …] (multiraft/peer-frame.ts),
 * and with peer TLS every frame's sender is checked against the connection's certificate before
 * the host sees it. The host still decodes and validates the whole frame.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The `from` of a peer frame, or undefined when the frame does not start as one does. */
export function peerFrameSender(frame: Uint8Array): string | undefined {
  // 0x9a: a fixarray of 10 items; then the version, a positive fixint.
  if (frame.length < 3 || frame[0] !== 0x9a || frame[1]! > 0x7f) return undefined;
  const type = frame[2]!;
  let start: number;
  let length: number;
  if (type >= 0xa0 && type <= 0xbf) {
    start = 3;
    length = type & 0x1f;
  } else if (type === 0xd9 && frame.length >= 4) {
    start = 4;
    length = frame[3]!;
  } else if (type === 0xda && frame.length >= 5) {
    start = 5;
    length = (frame[3]! << 8) | frame[4]!;
  } else {
    return undefined;
  }
  if (start + length > frame.length) return undefined;
  try {
    return utf8.decode(frame.subarray(start, start + length));
  } catch {
    return undefined;
  }
}
