import { startRecorder, type Recorder } from './recorder.ts';
import { makeCert } from './tls.ts';

export interface TlsFront extends Recorder {
  /** The self-signed certificate (PEM file) the front presents: the "corporate CA". */
  caFile: string;
}

/**
 * An HTTPS front on 127.0.0.1 with a self-signed certificate, passing requests to the S3 server:
 * what a TLS-inspecting corporate proxy looks like to a client.
 */
export async function startTlsFront(target: string): Promise<TlsFront> {
  const tls = makeCert();
  return { ...(await startRecorder(target, { tls })), caFile: tls.cert };
}
