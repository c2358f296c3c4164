/**
 * Splits a shell line into words as a POSIX shell would, for the few rules a resource name
 * needs: blanks separate words; '…' keeps everything literally; "…" keeps everything but
 * lets \" and \\ through; outside quotes, a backslash keeps the next character.
 * `lock "a b" 1000` is three words; `""` is one empty word.
 */
export function splitWords(line: string): string[] | string {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (quote === '"') {
      if (char === '"') {
        quote = undefined;
      } else if (char === "\\" && (line[index + 1] === '"' || line[index + 1] === "\\")) {
        word += line[index + 1];
        index += 1;
      } else {
        word += char;
      }
    } else if (char === " " || char === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      inWord = true;
      if (char === "'" || char === '"') {
        quote = char;
      } else if (char === "\\" && index + 1 < line.length) {
        word += line[index + 1];
        index += 1;
      } else {
        word += char;
      }
    }
  }
  if (quote !== undefined) return `unclosed ${quote} quote; close it, as in lock "a b" 1000`;
  if (inWord) words.push(word);
  return words;
}

/** A word as the shell would need it typed back: quoted when it has blanks or quotes. */
export function quoteWord(word: string): string {
  if (word !== "" && !/[\s'"\\]/.test(word)) return word;
  return `"${word.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
