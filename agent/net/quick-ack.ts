// Answers without the delayed-ACK wait. On a kept-alive connection Linux acknowledges what arrives
// up to 40 ms late, hoping to carry the ACK on the next request; a server that writes an answer's
// head and body apart, with Nagle on, holds the body until that ACK comes. Ceph RGW's beast frontend
// does by default (tcp_nodelay=0): every answer with a body (a GET, a LIST, a 404) took 44 ms on
// loopback where a HEAD took 6; with TCP_QUICKACK set once the request is written, 1 ms. A row
// makes a few dozen such round trips one after another (lease, journal, manifest, verification).
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { loadNative } from '../native/index.ts';

let quickAck: ((fd: number) => boolean) | null | undefined;

/** Replaces what is called with each written request's descriptor (tests); undefined: the addon's again. */
export function setQuickAck(fn: ((fd: number) => boolean) | undefined): void {
  quickAck = fn;
}

/** The socket's file descriptor (a TLS socket's is the one of the TCP connection under it). */
function fdOf(socket: Socket | null): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } } | null)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Once `req` is written, the first segment of its answer is acknowledged at once (when the addon is there). */
export function ackAnswerAtOnce(req: ClientRequest): void {
  if (quickAck === undefined) {
    const n = loadNative();
    quickAck = n.ok && typeof n.native.quickAck === 'function' ? n.native.quickAck : null;
  }
  const set = quickAck;
  if (!set) return; // no addon (a source tree not set up): answers come, 40 ms later against such a server
  req.once('finish', () => {
    const fd = fdOf(req.socket);
    if (fd !== undefined) set(fd);
  });
}
