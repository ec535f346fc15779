/**
 * A hostile client of the metrics endpoint, run by tests/watch/metrics_attack.test.ts inside the lab
 * namespace of the process under attack:
 *
 * - `held` connections opened as fast as possible and held open without sending a byte;
 * - `slow` connections (a slowloris) that send a request's headers one byte a second and never finish them.
 *
 * It runs for `seconds`, then prints one JSON line of what it saw and exits (closing everything).
 *
 *   deno run -A attack.ts PORT HELD SLOW SECONDS
 *
 * @module
 */

/** What the attack saw; printed as JSON. */
export interface AttackReport {
  /** Connections established, of `held` / `slow` asked. */
  heldOpened: number;
  slowOpened: number;
  /** Connects that failed or did not complete within 5 s. */
  connectFailed: number;
  /** Held connections the server closed (EOF or reset) before the attack ended. */
  heldClosed: number;
  /** Slow connections the server closed before the attack ended. */
  slowClosed: number;
  /** Slow connections that received any response byte (a server must never answer an unfinished request). */
  slowAnswered: number;
  /** Header bytes the slow connections managed to send in all. */
  slowBytesSent: number;
  /** Most connections open at the same time, from this side. */
  maxOpen: number;
}

const SLOW_REQUEST = new TextEncoder().encode(
  "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Padding: " + "a".repeat(4000),
);

async function connect(port: number): Promise<Deno.TcpConn | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ hostname: "127.0.0.1", port });
  const timeout = new Promise<null>((res) => timer = setTimeout(() => res(null), 5000));
  try {
    const c = await Promise.race([attempt, timeout]);
    if (c === null) attempt.then((late) => late.close(), () => {});
    return c;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when the server ends the connection (EOF or error); `onData` counts bytes received. */
async function watchClose(c: Deno.TcpConn, onData: (n: number) => void): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await c.read(buf);
      if (n === null) return;
      onData(n);
    }
  } catch {
    // reset, or closed by us at the end
  }
}

if (import.meta.main) {
  const [port, held, slow, seconds] = Deno.args.map(Number);
  const r: AttackReport = {
    heldOpened: 0,
    slowOpened: 0,
    connectFailed: 0,
    heldClosed: 0,
    slowClosed: 0,
    slowAnswered: 0,
    slowBytesSent: 0,
    maxOpen: 0,
  };
  let ended = false;
  let open = 0;
  const conns: Deno.TcpConn[] = [];
  const watchers: Promise<void>[] = [];
  const opened = (c: Deno.TcpConn) => {
    conns.push(c);
    open++;
    r.maxOpen = Math.max(r.maxOpen, open);
  };
  const endAt = Date.now() + seconds * 1000;

  // The slowloris: opened first, one header byte a second each until the server closes it.
  const slowConns: { c: Deno.TcpConn; sent: number; closed: boolean; answered: boolean }[] = [];
  await Promise.all(Array.from({ length: slow }, async () => {
    const c = await connect(port);
    if (c === null) {
      r.connectFailed++;
      return;
    }
    r.slowOpened++;
    opened(c);
    const s = { c, sent: 0, closed: false, answered: false };
    slowConns.push(s);
    watchers.push(
      watchClose(c, () => s.answered = true).then(() => {
        if (ended) return;
        s.closed = true;
        open--;
      }),
    );
  }));
  const dribble = (async () => {
    while (Date.now() < endAt) {
      await Promise.all(slowConns.map(async (s) => {
        if (s.closed || s.sent >= SLOW_REQUEST.length) return;
        try {
          await s.c.write(SLOW_REQUEST.subarray(s.sent, s.sent + 1));
          s.sent++;
          r.slowBytesSent++;
        } catch {
          s.closed = true;
        }
      }));
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();

  // The held connections: as many at once as the kernel takes, 200 connects in flight at a time.
  let next = 0;
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (next < held && Date.now() < endAt) {
      next++;
      const c = await connect(port);
      if (c === null) {
        r.connectFailed++;
        continue;
      }
      r.heldOpened++;
      opened(c);
      watchers.push(
        watchClose(c, () => {}).then(() => {
          if (ended) return;
          r.heldClosed++;
          open--;
        }),
      );
    }
  }));

  await dribble;
  while (Date.now() < endAt) await new Promise((res) => setTimeout(res, 100));
  ended = true;
  for (const s of slowConns) {
    if (s.closed) r.slowClosed++;
    if (s.answered) r.slowAnswered++;
  }
  for (const c of conns) {
    try {
      c.close();
    } catch { /* already closed */ }
  }
  await Promise.all(watchers);
  console.log(JSON.stringify(r));
}
