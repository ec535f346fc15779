/**
 * Per-frame operations of fluxcap: VLAN filter/insert/replace/strip, sampling, tail trim and snap
 * length, compiled into one allocation-free {@linkcode FramePipeline}. Pure: no FFI, no Deno APIs.
 *
 * @example
 * ```ts
 * import { FramePipeline, parseVlanFilter, validateOps } from "./mod.ts";
 * const filterVlan = parseVlanFilter("vlan 100");
 * if (filterVlan instanceof Error) throw filterVlan;
 * const cfg = { filterVlan, stripVlan: true, snaplen: 96 };
 * const err = validateOps(cfg, "rx");
 * if (err) throw err;
 * const rx = new FramePipeline(cfg, "rx");
 * console.assert(rx.side === "rx");
 * ```
 *
 * @module
 */

export {
  type OpsConfig,
  type OpsSide,
  parseVlanFilter,
  validateOps,
  VLAN_ID_MAX,
  VLAN_ID_MIN,
} from "./config.ts";
export {
  DROP_REASON_COUNT,
  DROP_REASONS,
  DropCounters,
  DropReason,
  type DropReasonIndex,
  type DropReasonName,
  dropReasonOf,
} from "../ring/reasons.ts";
export { FramePipeline, MAX_GROWTH, TPID_8021AD, TPID_8021Q, TPID_QINQ, VlanAction } from "./pipeline.ts";
export {
  BPF_MAX_INSNS,
  BPF_MEMWORDS,
  type BpfFilter,
  type BpfInsn,
  compileBpf,
  type CompiledExpression,
  compileExpression,
  type FilterCompiler,
  MAX_BLOCK_DEPTH,
  translateBpf,
  type TranslateOptions,
  validateBpf,
  vlanOnly,
} from "./bpf.ts";
export { type BalanceMode, FlowHasher, FlowKind, MAX_MEMBERS, Rendezvous } from "./flow.ts";
export {
  Dedup,
  DEDUP_DEFAULT_RATE,
  DEDUP_ENTRIES_MAX,
  DEDUP_ENTRIES_MIN,
  DEDUP_ENTRY_BYTES,
  DEDUP_MS_MAX,
  DEDUP_MS_MIN,
  DEDUP_WAYS,
  dedupEntries,
  type DedupOptions,
  validateDedupMs,
} from "./dedup.ts";
