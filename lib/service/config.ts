/**
 * The service configuration file (`fluxcap run|check|status CONFIG`): YAML that declares rings,
 * captures and outputs with the command line's long option names and values, so that a command line
 * moves into the file without looking anything up:
 *
 * ```yaml
 * rings:
 *   cisco: { path: /ram/cisco, size: 100m }
 * captures:
 *   cisco-tap: { ring: cisco, interface: eth1, vlan: 100 }      # fluxcap -rx -i eth1 -V 100 /ram/cisco
 * outputs:
 *   zeek: { ring: cisco, interface: eth2 }                      # fluxcap -tx -i eth2 /ram/cisco
 *   remote: { ring: cisco, encap: "gretap:198.18.7.1", key: 500 }
 * metrics: 9086
 * ```
 *
 * Every problem is reported, each as one line `FILE:LINE:COLUMN: KEY.PATH: what is wrong and what is
 * allowed`; see {@linkcode ConfigError}. Relative paths (rings, `read`, `write`, `state`) are relative
 * to the file's directory. Each pipeline's values are checked by the command line's own validation
 * (`validate.ts`), so the file accepts exactly what the command line accepts.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from "yaml";
import type { Document } from "yaml";
import { formatSize, MAX_RING_SIZE, MIN_RING_SIZE, parseSize } from "../ring/mod.ts";
import { parseListen } from "../watch/metrics.ts";
import { keyHint, pipelineOption, type Section, sectionKeys, TARGET_KEYS } from "./options.ts";
import { validatePipelineArgv } from "./validate.ts";
import { UsageError } from "../errors.ts";

/** A ring the configuration declares. */
export interface RingSpec {
  name: string;
  /** Absolute path of the ring file. */
  path: string;
  /** Size in bytes, as `-cr -s` takes it. */
  size: number;
}

/** A capture or an output: one child process running one command line. */
export interface PipelineSpec {
  name: string;
  section: Section;
  /** Name of the ring it writes (capture) or reads (output). */
  ring: string;
  /** The fluxcap command line, without the program: `["-rx", "-i", "eth1", "-V", "100", "/ram/cisco"]`. */
  argv: string[];
}

/** A valid configuration. */
export interface ServiceConfig {
  /** The file as the user named it (for messages). */
  file: string;
  /** Absolute directory of the file: relative paths are relative to it, and pipelines run in it. */
  dir: string;
  /** Absolute path of the file. */
  path: string;
  rings: RingSpec[];
  /** Captures first, then outputs, each in file order. */
  pipelines: PipelineSpec[];
  /** `metrics: [addr:]port`, when given. */
  metrics?: string;
  /** Where `fluxcap run` publishes its state for `fluxcap status` (see `state.ts`). */
  state: string;
}

/** Everything wrong with a configuration: one line per problem, each with file, line and column. */
export class ConfigError extends UsageError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Names of rings and pipelines: they prefix log lines and label metrics. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const TOP_KEYS = ["rings", "captures", "outputs", "metrics", "state"];
const RING_KEYS = ["path", "size"];

/** Where the state file goes when the configuration does not say (`/run/fluxcap/NAME-HASH.json`). */
export function defaultStatePath(absConfig: string): string {
  let real = absConfig;
  try {
    real = Deno.realPathSync(absConfig);
  } catch { /* not there (yet): its name as given */ }
  const base = real.split("/").pop()!.replace(/\.(ya?ml|conf)$/i, "").replace(/[^A-Za-z0-9_.-]/g, "_");
  const hash = createHash("sha256").update(real).digest("hex").slice(0, 8);
  return `/run/fluxcap/${base || "fluxcap"}-${hash}.json`;
}

/**
 * Reads and validates the configuration file `file`. Throws {@link ConfigError} listing every problem,
 * or naming the file when it cannot be read.
 */
export function loadConfig(file: string): ServiceConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new ConfigError([`${file}: cannot read the configuration: ${why}`]);
  }
  const abs = resolve(file);
  return parseConfig(text, { file, dir: abs.slice(0, abs.lastIndexOf("/")) || "/", abs });
}

/** Where a configuration text came from. */
export interface ConfigSource {
  /** Name for messages. */
  file: string;
  /** Absolute directory relative paths are resolved in. */
  dir: string;
  /** Absolute path of the file (for the default state path); default `dir/file`. */
  abs?: string;
}

/** A position-aware reader of one parsed document. */
class Checker {
  readonly problems: { at: number; text: string }[] = [];
  readonly #lc: LineCounter;
  readonly #src: ConfigSource;
  readonly #doc: Document;

  constructor(doc: Document, lc: LineCounter, src: ConfigSource) {
    this.#doc = doc;
    this.#lc = lc;
    this.#src = src;
  }

  /** Records a problem at source offset `at`. */
  add(at: number, path: string, text: string): void {
    const { line, col } = this.#lc.linePos(at);
    this.problems.push({ at, text: `${this.#src.file}:${line}:${col}: ${path ? `${path}: ` : ""}${text}` });
  }

  /** Offset where `node` starts (0 when unknown). */
  at(node: unknown, fallback = 0): number {
    const r = (node as { range?: [number, number, number] } | null)?.range;
    return r ? r[0] : fallback;
  }

  /** `node` with aliases followed. */
  deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }

  /**
   * The entries of a mapping as [key, key offset, value node], reporting keys that are not plain
   * strings and duplicate keys (the first one wins).
   */
  entries(map: YAMLMap, path: string): [string, number, unknown][] {
    const out: [string, number, unknown][] = [];
    const seen = new Map<string, number>();
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const at = this.at(keyNode, this.at(map));
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== "string" && typeof key !== "number") {
        this.add(at, path, "keys must be plain names");
        continue;
      }
      const k = String(key);
      const first = seen.get(k);
      if (first !== undefined) {
        const { line, col } = this.#lc.linePos(first);
        this.add(at, join2(path, k), `duplicate key (first given at line ${line}, column ${col})`);
        continue;
      }
      seen.set(k, at);
      out.push([k, at, this.deref(pair.value)]);
    }
    return out;
  }

  /** A mapping, or null (reported) when `node` is something else; an empty value is an empty mapping. */
  map(node: unknown, at: number, path: string, what: string): YAMLMap | null | "empty" {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return "empty";
    if (isMap(node)) return node;
    this.add(this.at(node, at), path, `expected ${what}, got ${describe(node)}`);
    return null;
  }
}

function join2(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** How a node reads in a message: `"yes"`, `5000`, `a list`, `a mapping`, `nothing`. */
function describe(node: unknown): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "nothing";
    if (typeof v === "string") return JSON.stringify(v);
    return String(v);
  }
  return "nothing";
}

/** A scalar's value as command-line text, or null when it is not a string or a number. */
function scalarText(node: unknown): string | null {
  if (!isScalar(node)) return null;
  const v = node.value;
  if (typeof v === "string") return v;
  // A number as it was written (`file-mode: 0o640` is "0o640", as on the command line, not 416).
  const typed = typeof node.source === "string" && node.source !== "" ? node.source : null;
  if (typeof v === "number" && Number.isFinite(v)) return typed ?? String(v);
  if (typeof v === "bigint") return typed ?? String(v);
  return null;
}

/**
 * Parses and validates configuration text. Throws {@link ConfigError} with every problem found.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const c = parseConfig("rings:\n  r: { path: r, size: 1m }\ncaptures:\n  tap: { ring: r, interface: eth1 }\n", {
 *   file: "fluxcap.yaml",
 *   dir: "/ram",
 * });
 * // c.pipelines[0].argv: ["-rx", "-i", "eth1", "/ram/r"]
 * ```
 */
export function parseConfig(text: string, src: ConfigSource): ServiceConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const ck = new Checker(doc, lc, src);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const why = e.code === "MULTIPLE_DOCS"
        ? "more than one document (a line --- starts another): a configuration is one document"
        : e.message.split("\n")[0];
      ck.add(e.pos[0], "", `invalid YAML: ${why}`);
    }
    throw new ConfigError(ck.problems.map((p) => p.text));
  }
  const rings: RingSpec[] = [];
  const pipelines: PipelineSpec[] = [];
  let metrics: string | undefined;
  let state: string | undefined;
  const top = ck.map(ck.deref(doc.contents), 0, "", "a mapping with rings, captures and outputs");
  if (top === "empty") ck.add(0, "", "the configuration is empty: it needs rings, captures and outputs");
  const sections: Partial<Record<"rings" | Section, [YAMLMap | "empty", number]>> = {};
  if (top !== null && top !== "empty") {
    for (const [key, at, value] of ck.entries(top, "")) {
      if (key === "rings" || key === "captures" || key === "outputs") {
        const m = ck.map(
          value,
          at,
          key,
          key === "rings" ? "a mapping of ring names" : "a mapping of pipeline names",
        );
        if (m !== null) sections[key] = [m, at];
      } else if (key === "metrics") {
        const t = scalarText(value);
        if (t === null) {
          ck.add(ck.at(value, at), key, `expected [addr:]port, e.g. 9086, got ${describe(value)}`);
        } else {
          try {
            parseListen(t);
            metrics = t;
          } catch (e) {
            ck.add(ck.at(value, at), key, (e as Error).message);
          }
        }
      } else if (key === "state") {
        const t = isScalar(value) && typeof value.value === "string" ? value.value : null;
        if (t === null || t === "") {
          ck.add(ck.at(value, at), key, `expected a file path, got ${describe(value)}`);
        } else state = isAbsolute(t) ? t : join(src.dir, t);
      } else {
        ck.add(at, key, `unknown key; allowed: ${TOP_KEYS.join(", ")}`);
      }
    }
  }
  // Rings.
  const ringSec = sections.rings;
  if (ringSec && ringSec[0] !== "empty") {
    for (const [name, at, value] of ck.entries(ringSec[0], "rings")) {
      const path = `rings.${name}`;
      if (!NAME_RE.test(name)) {
        ck.add(at, path, "a ring name is 1..63 of A-Z, a-z, 0-9, _ . - (starting with a letter or digit)");
        continue;
      }
      const m = ck.map(value, at, path, "a mapping with path and size");
      if (m === null) continue;
      let file: string | undefined;
      let size: number | undefined;
      const entries = m === "empty" ? [] : ck.entries(m, path);
      for (const [key, kat, v] of entries) {
        if (key === "path") {
          const t = isScalar(v) && typeof v.value === "string" ? v.value : null;
          if (t === null || t === "") {
            ck.add(ck.at(v, kat), `${path}.path`, `expected a file path, got ${describe(v)}`);
          } else file = isAbsolute(t) ? t : join(src.dir, t);
        } else if (key === "size") {
          const t = scalarText(v);
          const n = t === null ? null : parseSize(t, "ring size");
          if (t === null || n === null) {
            ck.add(ck.at(v, kat), `${path}.size`, `expected a size such as 100m, got ${describe(v)}`);
          } else if (n instanceof Error) ck.add(ck.at(v, kat), `${path}.size`, n.message);
          else if (n < MIN_RING_SIZE || n > MAX_RING_SIZE) {
            ck.add(
              ck.at(v, kat),
              `${path}.size`,
              `${t} is out of range ${formatSize(MIN_RING_SIZE)}..4g`,
            );
          } else size = n;
        } else ck.add(kat, `${path}.${key}`, `unknown key; allowed: ${RING_KEYS.join(", ")}`);
      }
      const have = new Set(entries.map((e) => e[0]));
      for (const k of RING_KEYS) {
        if (!have.has(k)) {
          ck.add(ck.at(value, at), path, `missing "${k}" (a ring has ${RING_KEYS.join(" and ")})`);
        }
      }
      if (file !== undefined && size !== undefined) {
        const dup = rings.find((r) => r.path === file);
        if (dup) ck.add(ck.at(value, at), path, `same file as ring "${dup.name}" (${file})`);
        else rings.push({ name, path: file, size });
      }
    }
  }
  const ringNames = new Set<string>();
  ringSec && ringSec[0] !== "empty" && ringSec[0].items.forEach((p) => {
    if (isScalar(p.key)) ringNames.add(String(p.key.value));
  });
  // Pipelines.
  const names = new Map<string, string>();
  const writerOf = new Map<string, string>();
  for (const section of ["captures", "outputs"] as const) {
    const sec = sections[section];
    if (!sec || sec[0] === "empty") continue;
    for (const [name, at, value] of ck.entries(sec[0], section)) {
      const path = `${section}.${name}`;
      if (!NAME_RE.test(name)) {
        ck.add(
          at,
          path,
          "a pipeline name is 1..63 of A-Z, a-z, 0-9, _ . - (starting with a letter or digit)",
        );
        continue;
      }
      const other = names.get(name);
      if (other !== undefined) {
        ck.add(
          at,
          path,
          `the name is taken by ${other}.${name}: names prefix log lines, so they must differ`,
        );
        continue;
      }
      names.set(name, section);
      const p = pipeline(ck, section, name, at, value, ringNames, rings, writerOf, src.dir);
      if (p) pipelines.push(p);
    }
  }
  if (ck.problems.length > 0) {
    ck.problems.sort((a, b) => a.at - b.at);
    throw new ConfigError(ck.problems.map((p) => p.text));
  }
  const abs = src.abs ?? join(src.dir, src.file.split("/").pop()!);
  return {
    file: src.file,
    dir: src.dir,
    path: abs,
    rings,
    pipelines,
    metrics,
    state: state ?? defaultStatePath(abs),
  };
}

/** One capture or output: checks its keys, builds its command line, validates that. */
function pipeline(
  ck: Checker,
  section: Section,
  name: string,
  at: number,
  value: unknown,
  ringNames: Set<string>,
  rings: RingSpec[],
  writerOf: Map<string, string>,
  dir: string,
): PipelineSpec | null {
  const path = `${section}.${name}`;
  const m = ck.map(value, at, path, "a mapping of options");
  if (m === null) return null;
  const before = ck.problems.length;
  let ring: string | undefined;
  let ringGiven = false;
  let ringAt = at;
  const opts: { key: string; at: number; words: string[] }[] = [];
  for (const [key, kat, v] of m === "empty" ? [] : ck.entries(m, path)) {
    const kpath = `${path}.${key}`;
    const vat = ck.at(v, kat);
    if (key === "ring") {
      ringGiven = true;
      const t = scalarText(v);
      if (t === null) ck.add(vat, kpath, `expected the name of a ring, got ${describe(v)}`);
      else if (!ringNames.has(t)) {
        const known = [...ringNames];
        ck.add(
          vat,
          kpath,
          `no ring "${t}" under rings (${known.length ? `rings: ${known.join(", ")}` : "there are none"})`,
        );
      } else {
        ring = t;
        ringAt = vat;
      }
      continue;
    }
    const o = pipelineOption(section, key);
    if (!o) {
      // `{ interface: eth2,eth3 }`: in a { } mapping the comma ended the value, and eth3 became a key
      const bare = v === null || v === undefined || (isScalar(v) && v.value === null);
      const comma = bare && m !== "empty" && m.flow === true
        ? '; a comma ends a value inside { }: quote a comma list, as in interface: "eth2,eth3"'
        : "";
      ck.add(
        kat,
        kpath,
        `unknown key${keyHint(section, key)}${comma}; allowed: ${sectionKeys(section).join(", ")}`,
      );
      continue;
    }
    if (o.flag) {
      if (!isScalar(v) || typeof v.value !== "boolean") {
        ck.add(vat, kpath, `expected true or false, got ${describe(v)}`);
      } else if (v.value) opts.push({ key, at: kat, words: [o.short ? `-${o.short}` : `--${o.long}`] });
      continue;
    }
    const t = scalarText(v);
    if (t === null) {
      ck.add(vat, kpath, `expected a value as on the command line (text or a number), got ${describe(v)}`);
      continue;
    }
    if ((key === "write" || key === "read") && t === "-") {
      ck.add(
        vat,
        kpath,
        `"-" (${key === "write" ? "stdout" : "stdin"}) is not available to a service: give a file`,
      );
      continue;
    }
    let word = t;
    if ((key === "write" || key === "read") && t !== "" && !isAbsolute(t)) word = join(dir, t);
    opts.push({ key, at: vat, words: [o.short ? `-${o.short}` : `--${o.long}`, word] });
  }
  if (!ringGiven) {
    ck.add(
      ck.at(value, at),
      path,
      `missing "ring" (the ring it ${section === "captures" ? "writes" : "reads"})`,
    );
  }
  const targets = opts.filter((o) => TARGET_KEYS[section].includes(o.key));
  const targetGiven = m !== "empty" &&
    m.items.some((p) => isScalar(p.key) && TARGET_KEYS[section].includes(String(p.key.value)));
  if (!targetGiven) {
    ck.add(
      ck.at(value, at),
      path,
      `says nothing to ${section === "captures" ? "capture from" : "send to"}: give one of ${
        TARGET_KEYS[section].join(", ")
      }`,
    );
  }
  // The options that are well-formed are still checked by value, so one run reports them all.
  if (ring === undefined || targets.length === 0) return null;
  if (section === "captures") {
    const first = writerOf.get(ring);
    if (first !== undefined) {
      ck.add(
        ringAt,
        `${path}.ring`,
        `ring "${ring}" is already written by captures.${first}: one capture per ring`,
      );
      return null;
    }
    writerOf.set(ring, name);
  }
  const spec = rings.find((r) => r.name === ring);
  const ringPath = spec?.path ?? join(dir, ring);
  const mode = section === "captures" ? "-rx" : "-tx";
  const argvOf = (list: typeof opts) => [mode, ...list.flatMap((o) => o.words), ringPath];
  const argv = argvOf(opts);
  const whole = tryValidate(argv);
  if (whole === null) return ck.problems.length > before ? null : { name, section, ring, argv };
  // Name the key at fault: the targets alone, then the targets with each other option.
  const alone = tryValidate(argvOf(targets));
  if (alone !== null) {
    ck.add(
      targets.length === 1 ? targets[0].at : ck.at(value, at),
      targets.length === 1 ? `${path}.${targets[0].key}` : path,
      alone,
    );
    return null;
  }
  // The key at fault is the one whose removal changes the complaint (an option that needs another, -W
  // without -G, is not blamed while the other is given). One per pipeline: with it removed, the next
  // complaint may be caused by the removal itself (-W once a bad -G is gone), so the rest waits for the
  // next check.
  const rest = opts.filter((o) => !targets.includes(o));
  const culprit = rest.find((o) =>
    tryValidate(argvOf([...targets, ...rest.filter((x) => x !== o)])) !== whole
  );
  if (culprit !== undefined) ck.add(culprit.at, `${path}.${culprit.key}`, whole);
  else ck.add(ck.at(value, at), path, whole);
  return null;
}

/** The command line's complaint about `argv`, or null when it is accepted. */
function tryValidate(argv: string[]): string | null {
  try {
    validatePipelineArgv(argv);
    return null;
  } catch (e) {
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError)) return e.message;
    throw e;
  }
}
