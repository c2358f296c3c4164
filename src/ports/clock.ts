/**
 * Time, as the core and host may see it. `nowMs` is monotonic on this node only: it is
 * never compared with another machine's reading (docs/spec.md §2.3). `wallMs` is for display.
 */
export type Clock = {
  nowMs(): number;
  wallMs(): number;
};
