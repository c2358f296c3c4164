/**
 * Where each partition's leader is, merged from the route answers of several nodes. Shared by
 * the client's binary failover and `kahuna bench`, so both send a call to the node that leads
 * its partition (a stale map only costs a hop: that node forwards it).
 */
import type { RouteInfo } from "../codec/lock-wire.ts";
import { groupOf } from "../multiraft/partition.ts";

export type RouteMap = { readonly groups: number; readonly leaders: readonly string[] };

/**
 * One map from every node's view: a node's claim to lead a group wins (it knows), else any
 * node's view of who leads it. Undefined when the nodes disagree on the partition count.
 */
export function mergeRoutes(routes: readonly RouteInfo[]): RouteMap | undefined {
  const groups = routes[0]?.groups;
  if (groups === undefined || routes.some((route) => route.groups !== groups)) return undefined;
  const leaders = new Array<string>(groups).fill("");
  for (let group = 0; group < groups; group++) {
    const claim = routes.find((route) => route.leaders[group] === route.node);
    leaders[group] = claim?.node ??
      routes.find((route) => route.leaders[group] !== "")?.leaders[group] ?? "";
  }
  return { groups, leaders };
}

/** The node id that leads `resource`'s partition, or undefined when the map does not know. */
export function leaderOf(routes: RouteMap | undefined, resource: string): string | undefined {
  if (routes === undefined) return undefined;
  const leader = routes.leaders[groupOf(resource, routes.groups)];
  return leader === undefined || leader === "" ? undefined : leader;
}
