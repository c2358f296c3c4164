/**
 * Large state for the simulator (profile `large-state`): `count` persistent locks with long
 * names, taken through the nodes like any client's (retried until each is granted), 500 in
 * flight, while the faults run. They make every snapshot megabytes and every catch-up a
 * chunked transfer. They are not in the checked history (no client touches them); instead,
 * at the end, every one that was granted must still be held, with its token, on its
 * partition's leader: a check of durability at that size.
 */
import type { Prng } from "../../src/adapters/sim/prng.ts";
import {
  Durability,
  type LockRequest,
  type LockResponse,
  ResponseType,
} from "../../src/locks/types.ts";
import type { Violation } from "../checkers/history.ts";
import type { ClientPort } from "./workload.ts";

const inflightMax = 500;

export class Preloader {
  private next = 0;
  private inflight = 0;
  private readonly retry: number[] = [];
  /** Granted locks: index → token. */
  readonly granted = new Map<number, number>();

  constructor(
    private readonly port: ClientPort,
    private readonly random: Prng,
    readonly count: number,
    private readonly nameBytes: number,
  ) {}

  name(i: number): string {
    const prefix = `preload/${i}/`;
    return prefix + "x".repeat(Math.max(0, this.nameBytes - prefix.length));
  }

  step(): void {
    while (this.inflight < inflightMax && (this.retry.length > 0 || this.next < this.count)) {
      const i = this.retry.pop() ?? this.next++;
      this.inflight++;
      const request: LockRequest = {
        op: "tryLock",
        resource: this.name(i),
        owner: "preload",
        expiresMs: 3_600_000,
        durability: Durability.Persistent,
      };
      this.port.send(this.random.pick(this.port.nodes()), request, (response) => {
        this.inflight--;
        if (response !== "unreachable" && response.type === ResponseType.Locked) {
          this.granted.set(i, response.fencingToken);
        } else if (!this.granted.has(i)) this.retry.push(i);
      });
    }
  }

  /** Every granted lock, read on its leader at the end: held by "preload", same token. */
  check(get: (resource: string) => LockResponse | undefined, atMs: number): Violation[] {
    const violations: Violation[] = [];
    for (const [i, token] of this.granted) {
      const answer = get(this.name(i));
      if (answer === undefined) continue; // no leader to ask (the liveness checker reports it)
      const ok = answer.type === ResponseType.Got && answer.owner === "preload" &&
        answer.fencingToken === token;
      if (!ok && violations.length < 5) {
        violations.push({
          checker: "durability",
          key: `preload/${i}`,
          message: `preloaded lock ${i} (f${token}) reads back as ${JSON.stringify(answer)}`,
          atMs,
          ops: [],
        });
      }
    }
    return violations;
  }
}
