/**
 * The host's network, as the I/O classes need it: interfaces, routes, names.
 * @module
 */
export { ifFlags, ifIndex, ifMtu, setIntOpt, stillThere } from "./netdev.ts";
export {
  arpLookup,
  type LinkHop,
  linkHopTo,
  neighbourState,
  type NextHop,
  nextHopTo,
  provokeResolution,
  type Route,
  routeTo,
} from "./route.ts";
export { resolveHost } from "./resolve.ts";
