/**
 * The CLI's own flag parser, so every mistake is one line in kahuna's words (node:util's
 * parseArgs words its errors for programmers, and reads `lock a -5` as an option `-5`).
 *
 * `--name value` and `--name=value`; `-h` is `--help`; `--` ends the flags. A word that
 * starts with `-` and a digit (`-5`) is an argument, so the check of that argument can say
 * what is allowed. A string flag takes the next word as its value unless that word is
 * another `--flag`.
 */

export type FlagKind = "string" | "strings" | "boolean";
export type FlagSpec = Readonly<Record<string, FlagKind>>;

export type Flags = {
  readonly strings: ReadonlyMap<string, string>;
  readonly lists: ReadonlyMap<string, readonly string[]>;
  readonly booleans: ReadonlySet<string>;
  readonly positionals: readonly string[];
};

/** The flags and arguments, or what was wrong (one line). */
export function parseFlags(args: readonly string[], spec: FlagSpec): Flags | string {
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const booleans = new Set<string>();
  const positionals: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--") {
      positionals.push(...args.slice(index + 1));
      break;
    }
    if (arg === "-h") {
      booleans.add("help");
      continue;
    }
    if (!arg.startsWith("-") || arg === "-" || /^-[0-9]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith("--")) return `unknown option ${arg}; ${known(spec)}`;
    const equals = arg.indexOf("=");
    const name = arg.slice(2, equals < 0 ? undefined : equals);
    const kind = spec[name];
    if (kind === undefined) return `unknown option --${name}; ${known(spec)}`;
    if (kind === "boolean") {
      if (equals >= 0) return `--${name} takes no value, got ${JSON.stringify(arg)}`;
      booleans.add(name);
      continue;
    }
    let value: string;
    if (equals >= 0) {
      value = arg.slice(equals + 1);
    } else {
      const next = args[index + 1];
      if (next === undefined || next.startsWith("--")) return `--${name} needs a value`;
      value = next;
      index += 1;
    }
    if (kind === "strings") {
      lists.set(name, [...(lists.get(name) ?? []), value]);
    } else {
      // The last one wins, as with most commands, so a script can append an override.
      strings.set(name, value);
    }
  }
  return { strings, lists, booleans, positionals };
}

function known(spec: FlagSpec): string {
  return `the options are ${Object.keys(spec).map((name) => `--${name}`).join(", ")}`;
}

/** Whether the words ask for JSON output, looked at before (and whether or not) they parse. */
export function asksForJson(args: readonly string[]): boolean {
  return args.some((arg, index) =>
    arg === "--format=json" || (arg === "--format" && args[index + 1] === "json")
  );
}
