// One HTTP/1.1 exchange with a proxy on a raw socket (CONNECT, or a bodiless probe): write the
// request head, read the answer's head and skip its body, leaving the socket ready for the next
// exchange, a TLS session, or Node's HTTP client.
import type { Socket } from 'node:net';

export interface Head {
  status: number;
  /** Header lines as sent (names lower-cased), duplicates kept apart. */
  headers: Array<[string, string]>;
}

export const headerValues = (h: Head, name: string) => h.headers.filter(([n]) => n === name).map(([, v]) => v);

export interface Answer {
  head: Head;
  /** False when the proxy will close the connection (or did): the next exchange needs a new one. */
  reusable: boolean;
}

const MAX_HEAD = 64 * 1024;

function parseHead(text: string): Head {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`the proxy answered something that is not HTTP: '${statusLine.slice(0, 60)}'`);
  const headers: Array<[string, string]> = [];
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon > 0) headers.push([l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()]);
  }
  return { status: Number(m[1]), headers };
}

/** How many body bytes follow the head: a number, 'chunked', or 'close' (until the end). */
function bodyOf(head: Head, method: string): number | 'chunked' | 'close' {
  const tunnel = method === 'CONNECT' && head.status >= 200 && head.status < 300;
  if (method === 'HEAD' || tunnel || head.status === 204 || head.status === 304) return 0;
  if (headerValues(head, 'transfer-encoding').some((v) => /chunked/i.test(v))) return 'chunked';
  const len = headerValues(head, 'content-length')[0];
  return len !== undefined && /^\d+$/.test(len) ? Number(len) : 'close';
}

const closes = (head: Head) =>
  [...headerValues(head, 'connection'), ...headerValues(head, 'proxy-connection')].some((v) => /close/i.test(v));

/**
 * Writes `request` (a full head, ending in an empty line, of a `method` request) and reads the
 * answer to its end (no body after HEAD, nor after a CONNECT's 2xx: the tunnel begins there).
 */
export function exchange(socket: Socket, request: string, method: string, timeoutMs: number): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let head: Head | undefined;
    let body: number | 'chunked' | 'close' = 0;
    const timer = setTimeout(
      () =>
        finish(Object.assign(new Error(`the proxy did not answer for ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    const finish = (err?: Error, reusable = true) => {
      clearTimeout(timer);
      socket.off('readable', onReadable).off('end', onEnd).off('error', onError).off('close', onEnd);
      if (err) return reject(err);
      resolve({ head: head!, reusable: reusable && !closes(head!) });
    };
    const onError = (err: Error) => finish(err);
    const onEnd = () => (head ? finish(undefined, false) : finish(new Error('the proxy closed the connection')));
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;)
        buf = Buffer.concat([buf, chunk]);
      try {
        if (!head) {
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) {
            if (buf.length > MAX_HEAD) finish(new Error('the proxy sent a header larger than 64 KiB'));
            return;
          }
          head = parseHead(buf.subarray(0, end).toString('latin1'));
          buf = buf.subarray(end + 4);
          body = bodyOf(head, method);
        }
        const rest = bodyDone(buf, body);
        if (rest === undefined) return;
        if (rest.length) socket.unshift(rest);
        finish();
      } catch (err) {
        finish(err as Error);
      }
    };
    socket.on('readable', onReadable).on('end', onEnd).on('error', onError).on('close', onEnd);
    socket.write(request);
    onReadable();
  });
}

/** The bytes after the body when all of it has arrived, else undefined. */
function bodyDone(buf: Buffer, body: number | 'chunked' | 'close'): Buffer | undefined {
  if (body === 'close') return undefined;
  if (typeof body === 'number') return buf.length >= body ? buf.subarray(body) : undefined;
  const end = buf.indexOf('\r\n0\r\n\r\n');
  if (buf.subarray(0, 5).toString() === '0\r\n\r\n') return buf.subarray(5);
  return end === -1 ? undefined : buf.subarray(end + 7);
}

export interface Exchange {
  /** A new connection to the proxy. */
  open(): Promise<Socket>;
  /** The request head (ending in an empty line), with this Proxy-Authorization if given. */
  request(authorization?: string): string;
  method: string;
  uri: string;
  timeoutMs: number;
}
