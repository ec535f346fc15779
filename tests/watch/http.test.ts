/**
 * The metrics endpoint's HTTP server: what it answers, and the bounds that keep hostile clients from
 * hurting the process (connection limit, header and linger timeouts, failed accepts).
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { BoundedHttpServer, headEnd, HTTP_LIMITS, type HttpLimits, parseHead } from "../../lib/watch/http.ts";
import { parsePromText, valueOf } from "./promtext.ts";

const EMFILE = new URL("./emfile.ts", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();

function server(limits: Partial<HttpLimits> = {}, log: string[] = []): BoundedHttpServer {
  return BoundedHttpServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    limits,
    log: (l) => log.push(l),
    handler: (req) => {
      if (req.path === "/boom") throw new Error("ring unreadable");
      if (req.path !== "/metrics") return { status: 404, contentType: "text/plain", body: "no\n" };
      return { status: 200, contentType: "text/plain; version=0.0.4", body: `m{method="${req.method}"} 1\n` };
    },
  });
}

/** Sends `raw` on a new connection and reads until the server closes it. */
async function exchange(port: number, raw: string | Uint8Array): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(typeof raw === "string" ? enc.encode(raw) : raw);
    let out = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await c.read(buf);
      if (n === null) return out;
      out += dec.decode(buf.subarray(0, n));
    }
  } finally {
    c.close();
  }
}

/** Resolves with the bytes received once the server closes `c` (throws after `ms`). */
async function closedByServer(c: Deno.Conn, ms = 15_000): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`not closed by the server within ${ms} ms`)), ms);
  });
  const read = (async () => {
    let got = 0;
    const buf = new Uint8Array(1024);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) return got;
        got += n;
      }
    } catch {
      return got; // reset
    }
  })();
  try {
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("http: request heads are parsed strictly; GET and HEAD only", () => {
  const h = (s: string) => enc.encode(s);
  assertEquals(parseHead(h("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")), { method: "GET", path: "/metrics" });
  assertEquals(parseHead(h("\r\nHEAD /metrics?a=b HTTP/1.0\r\n\r\n")), { method: "HEAD", path: "/metrics" });
  assertEquals(parseHead(h("GET http://h:1/metrics HTTP/1.1\n\n")), { method: "GET", path: "/metrics" });
  assertEquals(parseHead(h("POST /metrics HTTP/1.1\r\n\r\n")), { status: 405 });
  for (
    const bad of ["GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n", "x\n\n"]
  ) {
    assertEquals(parseHead(h(bad)), { status: 400 }, bad);
  }
  assertEquals(parseHead(h("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), { status: 400 });
  const b = h("GET / HTTP/1.1\r\nA: b\r\n\r\nrest");
  assertEquals(headEnd(b, 0, b.length), b.length - 4);
  assertEquals(headEnd(b, 0, b.length - 5), -1);
  assertEquals(headEnd(h("GET / HTTP/1.1\n\n"), 0, 16), 16);
});

Deno.test("http: answers GET, HEAD, 404, 405, 400, 431 and 500 on one request per connection", async () => {
  const log: string[] = [];
  const s = server({}, log);
  try {
    const ok = await exchange(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert(ok.startsWith("HTTP/1.1 200 OK\r\n"), ok);
    assertIncludes(ok, "Content-Type: text/plain; version=0.0.4\r\n");
    assertIncludes(ok, "Connection: close\r\n");
    assert(ok.endsWith('\r\n\r\nm{method="GET"} 1\n'), ok);
    const head = await exchange(s.port, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assertIncludes(head, `Content-Length: ${'m{method="HEAD"} 1\n'.length}\r\n`);
    assert(head.endsWith("\r\n\r\n"), "no body for HEAD");
    assert((await exchange(s.port, "GET /x HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 404 "));
    const post = await exchange(s.port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert(post.startsWith("HTTP/1.1 405 "), post);
    assertIncludes(post, "Allow: GET, HEAD\r\n");
    assert((await exchange(s.port, "hello\r\n\r\n")).startsWith("HTTP/1.1 400 "));
    const big = `GET /metrics HTTP/1.1\r\nX: ${"a".repeat(HTTP_LIMITS.maxHeaderBytes)}\r\n\r\n`;
    assert((await exchange(s.port, big)).startsWith("HTTP/1.1 431 "));
    const boom = await exchange(s.port, "GET /boom HTTP/1.1\r\n\r\n");
    assert(boom.startsWith("HTTP/1.1 500 "), boom);
    assertEquals(log.length, 1, "one line for the failed handler");
    assertIncludes(log[0], "cannot answer a scrape: ring unreadable");
    // A request split into single bytes still works.
    const c = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    for (const b of enc.encode("GET /metrics HTTP/1.1\r\n\r\n")) await c.write(new Uint8Array([b]));
    assert((await closedByServer(c)) > 0);
    c.close();
    assertEquals(s.stats().responses, 8);
  } finally {
    await s.close();
  }
});

Deno.test("http: beyond the connection limit the oldest unfinished connections are closed; a scrape still gets through", async () => {
  const s = server({ maxConnections: 4 });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 10; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: s.port }));
    await until("10 accepted", () => s.stats().accepted === 10);
    assertEquals(s.stats().open, 4);
    assertEquals(s.stats().shedLimit, 6);
    for (const c of conns.slice(0, 6)) assertEquals(await closedByServer(c), 0, "the oldest were closed");
    const res = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assertEquals(res.status, 200);
    await res.text();
    assertEquals(s.stats().shedLimit, 7);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await s.close();
  }
});

Deno.test("http: a slowloris is cut off at the header timeout, unanswered; an idle client after its answer at the linger time", async () => {
  const s = server({ headerTimeoutMs: 300, lingerMs: 300 });
  const slow: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) slow.push(await Deno.connect({ hostname: "127.0.0.1", port: s.port }));
    const head = enc.encode("GET /metrics HTTP/1.1\r\nX: " + "a".repeat(1000));
    let stop = false;
    const dribble = Promise.all(slow.map(async (c) => {
      for (let i = 0; i < head.length && !stop; i++) {
        try {
          await c.write(head.subarray(i, i + 1));
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }));
    const got = await Promise.all(slow.map((c) => closedByServer(c)));
    stop = true;
    await dribble;
    assertEquals(got, [0, 0, 0], "no answer to an unfinished request");
    assertEquals(s.stats().shedTimeout, 3);

    // Answered, then keeps the connection open without sending: closed after the linger time.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    slow.push(idle);
    await idle.write(enc.encode("GET /metrics HTTP/1.1\r\n\r\n"));
    assert((await closedByServer(idle)) > 0, "answered, then closed");
    assertEquals(s.stats().shedTimeout, 3, "an answered connection is not counted as shed");
    await until("no connection open", () => s.stats().open === 0);
  } finally {
    for (const c of slow) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await s.close();
  }
});

Deno.test("http: out of descriptors, accepts fail, one line is logged, and scrapes are answered once descriptors are free", async () => {
  const dir = Deno.makeTempDirSync();
  const release = `${dir}/release`;
  const child = new Deno.Command("sh", {
    args: ["-c", 'ulimit -n 256 && exec "$@"', "limited", Deno.execPath(), "run", "-A", EMFILE, release],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, f: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) f(t);
  };
  const pumps = [pump(child.stdout, (t) => out += t), pump(child.stderr, (t) => err += t)];
  const conns: Deno.Conn[] = [];
  try {
    await until("full", () => out.includes("full") || err.includes("error"));
    assertIncludes(out, "full", err);
    const port = Number(out.split("\n")[0]);
    // The kernel completes these handshakes; the process cannot accept them.
    for (let i = 0; i < 3; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await c.write(enc.encode("GET /metrics HTTP/1.1\r\n\r\n"));
      conns.push(c);
    }
    await until("the accept failure logged", () => err.includes("cannot accept connections"));
    await new Promise((r) => setTimeout(r, 1500)); // more failed accepts, still one line
    Deno.writeTextFileSync(release, "");
    const answers = await Promise.all(conns.map(async (c) => {
      let text = "";
      const buf = new Uint8Array(65536);
      for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
        text += dec.decode(buf.subarray(0, n));
      }
      return text;
    }));
    for (const a of answers) assert(a.startsWith("HTTP/1.1 200 OK\r\n"), a.slice(0, 200));
    const p = parsePromText(answers[2].slice(answers[2].indexOf("\r\n\r\n") + 4));
    assert(valueOf(p, "fluxcap_metrics_accept_errors_total") > 1, "several failed accepts");
    assert(!err.includes("panicked"), err);
    const lines = err.trim().split("\n").filter((l) => l.startsWith("fluxcap:")); // Deno may warn too
    assertEquals(lines.length, 1, err);
    assert(
      /^fluxcap: metrics on 127\.0\.0\.1:\d+: cannot accept connections: .*open files/.test(lines[0]),
      err,
    );
    const status = await Promise.race([child.status, new Promise((r) => setTimeout(() => r("alive"), 200))]);
    assertEquals(status, "alive");
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
    Deno.removeSync(dir, { recursive: true });
    await Promise.all(pumps);
  }
});
