/** Randomness through a port, so one seed replays one simulator run (docs/testing.md). */
export type Random = {
  /** A uniformly random integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
};
