/**
 * The order of the wait lines (docs/spec.md §2.5, §2.8), from what each leader's lines do
 * (NodeHost's lineTrace): while one leader leads, the waiters of a lock's line are granted in
 * the order they joined it, none twice, none that left first, and none from the middle: a reader
 * behind a waiting writer is never let in before it. A line lives for one leadership of one
 * incarnation of a node, so each is judged on its own.
 */
import type { LineEvent, LineTrace } from "../../src/host/wait-queue.ts";
import type { Violation } from "../checkers/history.ts";

const violationsMax = 5;

export class LineOrder {
  readonly violations: Violation[] = [];
  /** Each line's waiters, oldest first: by node incarnation, group, term and lock. */
  readonly #lines = new Map<string, string[]>();
  grants = 0;

  /** The trace of one node incarnation's lines; `nowMs` reads the simulated true time. */
  observer(node: string, incarnation: number, nowMs: () => number): LineTrace {
    return (event) => this.#observe(`${node}#${incarnation}`, event, nowMs());
  }

  #observe(node: string, event: LineEvent, atMs: number): void {
    const id = `${node}|${event.group}|${event.term}|${event.key}`;
    let line = this.#lines.get(id);
    if (line === undefined) this.#lines.set(id, line = []);
    const at = line.indexOf(event.owner);
    switch (event.kind) {
      case "queued":
        if (at >= 0) this.#report(event, atMs, `${short(event.owner)} joined the line twice`);
        else line.push(event.owner);
        return;
      case "left":
        // A grant in flight when the leader stepped down is answered after, under the new
        // term, whose lines never had it: nothing to judge.
        if (at >= 0) line.splice(at, 1);
        return;
      case "granted":
        this.grants += 1;
        if (at !== 0) {
          const where = at < 0 ? "not in the line" : `number ${at + 1} in the line`;
          this.#report(
            event,
            atMs,
            `${short(event.owner)} was granted the lock from the line while ${where}, behind ` +
              line.slice(0, Math.max(at, 1)).map(short).join(", "),
          );
        }
        if (at >= 0) line.splice(at, 1);
        return;
    }
  }

  #report(event: LineEvent, atMs: number, message: string): void {
    if (this.violations.length >= violationsMax) return;
    this.violations.push({
      checker: "line order",
      key: event.key,
      message: `group ${event.group} term ${event.term}: ${message}`,
      atMs,
      ops: [],
    });
  }
}

function short(owner: string): string {
  return owner.slice(0, 8);
}
