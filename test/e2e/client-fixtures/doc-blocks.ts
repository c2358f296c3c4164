/**
 * Reads the examples out of the Markdown docs, for the tests that run them: fenced code
 * blocks with their language, the heading they sit under and their line number.
 */

export type CodeBlock = {
  readonly language: string;
  readonly code: string;
  readonly heading: string;
  /** Line of the opening fence, 1-based. */
  readonly line: number;
};

export type ConsoleStep = {
  readonly command: string;
  /** Lines typed into the interactive shell's stdin. */
  readonly input: string[];
  readonly output: string[];
};

export type ConsoleBlock = {
  readonly heading: string;
  readonly line: number;
  readonly steps: ConsoleStep[];
};

export const shellPrompt = "kahuna-cli> ";

export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  let heading = "";
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    const fence = /^```(\S*)\s*$/.exec(line);
    if (fence === null) continue;
    const start = index;
    const body: string[] = [];
    for (index += 1; index < lines.length && lines[index] !== "```"; index++) {
      body.push(lines[index]!);
    }
    blocks.push({ language: fence[1]!, code: body.join("\n"), heading, line: start + 1 });
  }
  return blocks;
}

export function parseConsoleBlocks(markdown: string): ConsoleBlock[] {
  return codeBlocks(markdown).filter((block) => block.language === "console").map((block) => {
    const steps: ConsoleStep[] = [];
    for (const line of block.code.split("\n")) {
      if (line.startsWith("$ ")) {
        steps.push({ command: line.slice(2), input: [], output: [] });
        continue;
      }
      const step = steps[steps.length - 1];
      if (step === undefined) {
        throw new Error(`console block at line ${block.line} must start with "$ "`);
      }
      const isShell = /^(kahuna-cli|kahuna cli)$/.test(step.command.trim());
      if (isShell && line.startsWith(shellPrompt)) step.input.push(line.slice(shellPrompt.length));
      else step.output.push(line);
    }
    return { heading: block.heading, line: block.line, steps };
  });
}
