/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for the tests (an oracle independent
 * of the code under test; `promtool check metrics` is used as well when installed).
 *
 * Checks: metric and label name syntax, label value escapes, numeric values, `# TYPE` before a family's
 * samples and at most once, samples of a family contiguous, no duplicate series, counters ending in
 * `_total`, a trailing newline.
 *
 * @module
 */

/** One sample: metric name, labels, value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition. */
export interface PromText {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, where: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

/** Parses `text`, throwing an Error that names the line for anything malformed. */
export function parsePromText(text: string): PromText {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("exposition does not end with a newline");
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: PromSample[] = [];
  const seen = new Set<string>();
  const finished = new Set<string>();
  let current = "";
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
      if (kind === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) {
          throw new Error(`${where}: bad type "${rest}"`);
        }
        if (types.has(name)) throw new Error(`${where}: second TYPE for "${name}"`);
        if (samples.some((s) => s.name === name)) {
          throw new Error(`${where}: TYPE after samples of "${name}"`);
        }
        types.set(name, rest);
      } else {
        if (help.has(name)) throw new Error(`${where}: second HELP for "${name}"`);
        help.set(name, rest);
      }
      return;
    }
    if (line.trim() === "") return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line}`);
    const [, name, , body, value] = m;
    const labels: Record<string, string> = {};
    if (body !== undefined && body !== "") {
      let p = 0;
      while (p < body.length) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(body.slice(p));
        if (!lm || !LABEL.test(lm[1])) throw new Error(`${where}: bad label at "${body.slice(p)}"`);
        p += lm[0].length;
        let v = "";
        for (;;) {
          if (p >= body.length) throw new Error(`${where}: unterminated label value`);
          const c = body[p++];
          if (c === '"') break;
          if (c === "\\") {
            const e = body[p++];
            if (e === "n") v += "\n";
            else if (e === "\\" || e === '"') v += e;
            else throw new Error(`${where}: bad escape "\\${e}"`);
          } else v += c;
        }
        if (lm[1] in labels) throw new Error(`${where}: label "${lm[1]}" twice`);
        labels[lm[1]] = v;
        if (p < body.length) {
          if (body[p] !== ",") throw new Error(`${where}: expected "," in labels`);
          p++;
        }
      }
    }
    const family = types.has(name) ? name : name.replace(/_(total|count|sum|bucket)$/, "");
    if (family !== current) {
      if (finished.has(family)) throw new Error(`${where}: samples of "${family}" are not contiguous`);
      if (current) finished.add(current);
      current = family;
    }
    const type = types.get(name) ?? types.get(family);
    if (type === "counter" && !name.endsWith("_total")) {
      throw new Error(`${where}: counter "${name}" lacks _total`);
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    seen.add(key);
    samples.push({ name, labels, value: parseValue(value, where) });
  });
  return { types, help, samples };
}

/** The value of the one sample of `name` whose labels include `labels`; throws if none or several. */
export function valueOf(p: PromText, name: string, labels: Record<string, string> = {}): number {
  const hits = p.samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  if (hits.length !== 1) {
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${hits.length}`);
  }
  return hits[0].value;
}

/** Runs `promtool check metrics` on `text` if promtool is installed; returns null when it is not. */
export async function promtoolCheck(text: string): Promise<{ ok: boolean; output: string } | null> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { ok: out.code === 0, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}
