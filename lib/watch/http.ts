/**
 * A small HTTP/1.1 server for the metrics endpoint, bounded in every direction so that no client, however
 * many or however slow, can take the process down or make it block:
 *
 * - at most {@linkcode HTTP_LIMITS}`.maxConnections` connections are open at once; a connection beyond that
 *   closes the oldest one still sending its request (or lingering after its response), or itself when all
 *   are being answered; no connection is accepted while as many are still releasing their descriptors, so
 *   the server never holds more than twice that many, however many clients connect;
 * - the request line and headers must arrive within `headerTimeoutMs` of the connect and fit in
 *   `maxHeaderBytes`; a whole connection (request, response, lingering close) lasts at most
 *   `connectionTimeoutMs`;
 * - one request per connection (`Connection: close`), `GET` and `HEAD` only, no request body read;
 * - no error ever escapes: a failed accept (out of descriptors, for example) is retried with a back-off,
 *   a listener that dies is re-created every `relistenMs`, and each is logged as one line at most once a
 *   minute. Nothing here throws after {@linkcode BoundedHttpServer.listen} returned.
 *
 * It runs on the main thread of the process (the packet loops run in Workers) and never does anything
 * slow there: the handler is synchronous and everything else is a non-blocking socket operation.
 *
 * @module
 */

/** The server's bounds (see the module's description). */
export interface HttpLimits {
  /** Connections open at once. */
  maxConnections: number;
  /** Time from the connect to the end of the request's headers (ms). */
  headerTimeoutMs: number;
  /** Time from the connect to the end of the connection (ms). */
  connectionTimeoutMs: number;
  /** Size of the request line and headers (bytes). */
  maxHeaderBytes: number;
  /** Time to wait for the client to close after the response, reading (and discarding) what it sends (ms). */
  lingerMs: number;
  /** Time between attempts to listen again after the listener failed (ms). */
  relistenMs: number;
}

/** The limits fluxcap uses. */
export const HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 64,
  headerTimeoutMs: 5_000,
  connectionTimeoutMs: 10_000,
  maxHeaderBytes: 8192,
  lingerMs: 1_000,
  relistenMs: 5_000,
});

/** A request, as far as the handler needs it. */
export interface HttpRequest {
  /** `GET` or `HEAD`. */
  method: "GET" | "HEAD";
  /** The path, without the query. */
  path: string;
}

/** A handler's answer. */
export interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** Answers a request; must not block. An exception is answered with a 500. */
export type HttpHandler = (req: HttpRequest) => HttpResponse;

/** Counters of the server since it started. */
export interface HttpStats {
  /** Connections accepted. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Responses written (any status). */
  responses: number;
  /** Connections closed without a response because the connection limit was reached. */
  shedLimit: number;
  /** Connections closed without a (complete) response because they were too slow. */
  shedTimeout: number;
  /** Failed accepts (out of descriptors, for example, or a listener that died): retried, or listened anew. */
  acceptErrors: number;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

const enc = new TextEncoder();

/** Where the request's head ends (just past the blank line), or -1; scans `buf[from..len)`. */
export function headEnd(buf: Uint8Array, from: number, len: number): number {
  for (let i = Math.max(0, from); i < len; i++) {
    if (buf[i] !== 0x0a) continue;
    if (i + 1 < len && buf[i + 1] === 0x0a) return i + 2; // \n\n
    if (i + 2 < len && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3; // \n\r\n
  }
  return -1;
}

/**
 * Parses a request head: the request line (after optional empty lines) `METHOD target HTTP/1.x`.
 * Headers are not needed and not interpreted. Returns the request, or the status to answer with.
 */
export function parseHead(head: Uint8Array): HttpRequest | { status: 400 | 405 } {
  let text = "";
  for (let i = 0; i < head.length; i++) text += String.fromCharCode(head[i]);
  const line = text.replace(/^(\r?\n)+/, "").split(/\r?\n/, 1)[0];
  const m = /^([A-Za-z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!m) return { status: 400 };
  const [, method, target] = m;
  let path: string;
  if (target.startsWith("/")) path = target.split(/[?#]/, 1)[0];
  else if (/^https?:\/\//i.test(target)) {
    try {
      path = new URL(target).pathname;
    } catch {
      return { status: 400 };
    }
  } else return { status: 400 };
  if (method !== "GET" && method !== "HEAD") return { status: 405 };
  return { method, path };
}

function responseBytes(res: HttpResponse, head: boolean): Uint8Array {
  const body = enc.encode(res.body);
  let h = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? "Unknown"}\r\n` +
    `Content-Type: ${res.contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(res.headers ?? {})) h += `${k}: ${v}\r\n`;
  const top = enc.encode(h + "\r\n");
  if (head) return top;
  const out = new Uint8Array(top.length + body.length);
  out.set(top);
  out.set(body, top.length);
  return out;
}

const plain = (status: number, body: string, headers?: Record<string, string>): HttpResponse => ({
  status,
  contentType: "text/plain; charset=utf-8",
  body,
  headers,
});

/**
 * errno values of a failed accept(2) that say nothing about the listener itself, so accepting again later
 * works: EPERM (a firewall), EINTR, EAGAIN, ENOMEM, ENFILE, EMFILE, EPROTO, ECONNRESET, ECONNABORTED,
 * ENOBUFS, ETIMEDOUT.
 */
const TRANSIENT_ACCEPT_ERRNO = new Set([1, 4, 11, 12, 23, 24, 71, 103, 104, 105, 110]);

/** True if a failed accept is worth retrying on the same listener; anything else means listening anew. */
export function transientAcceptError(e: unknown): boolean {
  if (
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.WouldBlock ||
    e instanceof Deno.errors.TimedOut
  ) return true;
  const errno = /\(os error (\d+)\)/.exec(message(e));
  return errno !== null && TRANSIENT_ACCEPT_ERRNO.has(Number(errno[1]));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Conn {
  conn: Deno.Conn;
  /** `request`: reading the head; `respond`: writing; `linger`: response written, waiting for the close. */
  phase: "request" | "respond" | "linger";
  at: number;
  timer?: ReturnType<typeof setTimeout>;
  done: boolean;
}

/** Options of {@linkcode BoundedHttpServer.listen}. */
export interface ServerOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  /** Where the one-line warnings go. */
  log: (line: string) => void;
  /** Overrides of {@linkcode HTTP_LIMITS} (tests use short timeouts). */
  limits?: Partial<HttpLimits>;
}

/** Interval between two warnings of the same kind (ms). */
const WARN_EVERY_MS = 60_000;

/**
 * The bounded server. {@linkcode BoundedHttpServer.listen} binds synchronously (and throws the bind's
 * error, for the caller to report); from then on nothing it does throws or rejects.
 *
 * @example
 * ```ts
 * import { BoundedHttpServer } from "./http.ts";
 * const s = BoundedHttpServer.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => ({ status: 200, contentType: "text/plain", body: "hi\n" }),
 *   log: console.error,
 * });
 * console.log(await (await fetch(`http://127.0.0.1:${s.port}/`)).text());
 * await s.close();
 * ```
 */
export class BoundedHttpServer {
  /** The address bound. */
  readonly hostname: string;
  /** The port bound (the kernel's choice when 0 was asked; kept when listening again). */
  readonly port: number;
  readonly #handler: HttpHandler;
  readonly #log: (line: string) => void;
  readonly #limits: HttpLimits;
  readonly #conns = new Map<Deno.Conn, Conn>(); // open connections, in accept order
  /** Connection tasks not settled yet: open connections and closed ones whose descriptor is being released. */
  readonly #tasks = new Set<Promise<void>>();
  #room: (() => void) | null = null;
  readonly #stats: HttpStats = {
    accepted: 0,
    open: 0,
    responses: 0,
    shedLimit: 0,
    shedTimeout: 0,
    acceptErrors: 0,
  };
  readonly #lastWarn = new Map<string, number>();
  #listener: Deno.TcpListener | null;
  #loop: Promise<void> = Promise.resolve();
  #closing = false;
  #closed: Promise<void> | null = null;
  #wait: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null;

  private constructor(listener: Deno.TcpListener, opts: ServerOptions) {
    this.#listener = listener;
    this.hostname = listener.addr.hostname;
    this.port = listener.addr.port;
    this.#handler = opts.handler;
    this.#log = opts.log;
    this.#limits = { ...HTTP_LIMITS, ...opts.limits };
    this.#loop = this.#supervise(listener);
  }

  /** Binds `hostname:port` and starts serving; throws Deno's error when it cannot bind. */
  static listen(opts: ServerOptions): BoundedHttpServer {
    const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
    return new BoundedHttpServer(listener, opts);
  }

  /** Counters since the start. */
  stats(): HttpStats {
    return { ...this.#stats, open: this.#conns.size };
  }

  /** Stops listening, closes every connection and waits until all is done. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#closeListener();
      this.#wakeUp();
      this.#room?.();
      for (const c of [...this.#conns.values()]) this.#end(c);
      await Promise.allSettled([this.#loop, ...this.#tasks]);
    })();
    return this.#closed;
  }

  #where(): string {
    return this.hostname.includes(":") ? `[${this.hostname}]:${this.port}` : `${this.hostname}:${this.port}`;
  }

  /** Logs `what` at most once a minute per `kind`. */
  #warn(kind: string, what: string): void {
    const now = Date.now();
    const last = this.#lastWarn.get(kind);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    this.#lastWarn.set(kind, now);
    try {
      this.#log(`fluxcap: metrics on ${this.#where()}: ${what}`);
    } catch {
      // a log that fails must not stop serving
    }
  }

  /** Sleeps `ms`, or until {@linkcode close}. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wait = null;
        resolve();
      }, ms);
      this.#wait = { timer, resolve };
    });
  }

  #wakeUp(): void {
    if (this.#wait) {
      clearTimeout(this.#wait.timer);
      this.#wait.resolve();
      this.#wait = null;
    }
  }

  #closeListener(): void {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    this.#listener = null;
  }

  /** Runs the accept loop; should it ever fail, logs one line and starts it again (listening anew). */
  async #supervise(listener: Deno.TcpListener | null): Promise<void> {
    while (!this.#closing) {
      try {
        await this.#run(listener);
        return;
      } catch (e) {
        this.#warn("serve", `stopped serving: ${message(e)}; starting again (nothing else is affected)`);
        this.#closeListener();
        listener = null; // #run listens again after relistenMs
      }
    }
  }

  /** Accepts until closed; every expected failure is handled here (see #supervise for the rest). */
  async #run(listener: Deno.TcpListener | null): Promise<void> {
    let backoff = 0;
    while (!this.#closing) {
      if (listener === null) {
        // The listener died: listen again every relistenMs until it works.
        await this.#sleep(this.#limits.relistenMs);
        if (this.#closing) return;
        try {
          listener = Deno.listen({ hostname: this.hostname, port: this.port, transport: "tcp" });
          this.#listener = listener;
          this.#warn("relisten", "listening again");
        } catch (e) {
          this.#warn(
            "relisten-failed",
            `cannot listen: ${message(e)}; trying again every ${this.#limits.relistenMs / 1000} s`,
          );
        }
        continue;
      }
      // A closed connection's descriptor is released when its pending read has been cancelled, a moment
      // later: accept no more while as many connections as the limit are still being released, so that
      // descriptors stay bounded (2 × maxConnections) even under a flood of connects.
      if (this.#tasks.size >= 2 * this.#limits.maxConnections) {
        await new Promise<void>((resolve) => this.#room = resolve);
        this.#room = null;
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#closing) return;
        this.#stats.acceptErrors++;
        if (!transientAcceptError(e)) {
          // The listener is broken (EINVAL once its socket was destroyed, EBADF, a closed resource):
          // drop it and listen again later.
          this.#warn(
            "listen",
            `stopped listening: ${message(e)}; trying again every ${this.#limits.relistenMs / 1000} s`,
          );
          try {
            listener.close();
          } catch { /* already closed */ }
          listener = null;
          this.#listener = null;
          continue;
        }
        // Out of descriptors, aborted connection, no buffer space: back off and retry.
        this.#warn("accept", `cannot accept connections: ${message(e)}; retrying (nothing else is affected)`);
        backoff = Math.min(backoff === 0 ? 50 : backoff * 2, 1000);
        await this.#sleep(backoff);
        continue;
      }
      backoff = 0;
      try {
        this.#admit(conn);
      } catch (e) {
        try {
          conn.close();
        } catch { /* closed */ }
        this.#warn("serve", `cannot serve a connection: ${message(e)}`);
      }
    }
  }

  /** Takes a new connection in, making room if the limit is reached. */
  #admit(conn: Deno.Conn): void {
    this.#stats.accepted++;
    if (this.#closing) {
      conn.close();
      return;
    }
    if (this.#conns.size >= this.#limits.maxConnections) {
      this.#warn(
        "limit",
        `more than ${this.#limits.maxConnections} connections: closing the oldest unfinished ones`,
      );
      let victim: Conn | undefined;
      for (const c of this.#conns.values()) {
        if (c.phase !== "respond") {
          victim = c;
          break;
        }
      }
      if (victim === undefined) {
        this.#stats.shedLimit++;
        conn.close();
        return;
      }
      if (victim.phase === "request") this.#stats.shedLimit++; // a lingering one was answered already
      this.#end(victim);
    }
    const c: Conn = { conn, phase: "request", at: Date.now(), done: false };
    this.#conns.set(conn, c);
    this.#arm(c, this.#limits.headerTimeoutMs);
    const task: Promise<void> = this.#serve(c).catch(() => {}).finally(() => {
      this.#end(c);
      this.#tasks.delete(task);
      this.#room?.();
    });
    this.#tasks.add(task);
  }

  /** (Re)arms the connection's deadline `ms` from now, never past its whole-connection deadline. */
  #arm(c: Conn, ms: number): void {
    clearTimeout(c.timer);
    const left = Math.min(ms, c.at + this.#limits.connectionTimeoutMs - Date.now());
    c.timer = setTimeout(() => {
      if (c.done) return;
      if (c.phase !== "linger") this.#stats.shedTimeout++;
      this.#end(c);
    }, Math.max(0, left));
  }

  /** Closes a connection (once): a pending read or write on it then fails, ending its task. */
  #end(c: Conn): void {
    if (c.done) return;
    c.done = true;
    clearTimeout(c.timer);
    this.#conns.delete(c.conn);
    try {
      c.conn.close();
    } catch {
      // already closed
    }
  }

  async #serve(c: Conn): Promise<void> {
    const buf = new Uint8Array(this.#limits.maxHeaderBytes);
    let len = 0;
    let end = -1;
    while (end < 0) {
      if (len === buf.length) {
        await this.#respond(c, plain(431, "Request headers too large\n"), false);
        return;
      }
      const n = await c.conn.read(buf.subarray(len));
      if (n === null || c.done) return; // the client went away, or we closed it
      const from = len - 2;
      len += n;
      end = headEnd(buf, from, len);
    }
    const req = parseHead(buf.subarray(0, end));
    let res: HttpResponse;
    if ("status" in req) {
      res = req.status === 405
        ? plain(405, "Method not allowed\n", { Allow: "GET, HEAD" })
        : plain(400, "Bad request\n");
    } else {
      try {
        res = this.#handler(req);
      } catch (e) {
        this.#warn("handler", `cannot answer a scrape: ${message(e)}`);
        res = plain(500, `Cannot read the rings: ${message(e)}\n`);
      }
    }
    await this.#respond(c, res, !("status" in req) && req.method === "HEAD");
  }

  /** Writes the response, then half-closes and drains until the client closes (bounded). */
  async #respond(c: Conn, res: HttpResponse, head: boolean): Promise<void> {
    c.phase = "respond";
    this.#arm(c, this.#limits.connectionTimeoutMs);
    const data = responseBytes(res, head);
    for (let off = 0; off < data.length;) {
      off += await c.conn.write(data.subarray(off));
      if (c.done) return;
    }
    this.#stats.responses++;
    c.phase = "linger";
    this.#arm(c, this.#limits.lingerMs);
    // Closing with unread input would reset the connection and could destroy the response in flight:
    // half-close, then read until the client closes (or the linger time is up).
    await c.conn.closeWrite();
    const sink = new Uint8Array(1024);
    for (let drained = 0; drained < 65536 && !c.done;) {
      const n = await c.conn.read(sink);
      if (n === null) return;
      drained += n;
    }
  }
}
