import { describe, expect, it } from 'vitest';
import { proxyFor, redactProxy } from '../../agent/net/proxy.ts';

describe('proxy selection', () => {
  const P = 'http://u:p@proxy:3128';
  it("takes the scheme's variable in either case, else all_proxy", () => {
    expect(proxyFor('https://s3.eu-west-1.amazonaws.com', { HTTPS_PROXY: P })).toBe(P);
    expect(proxyFor('https://s3.eu-west-1.amazonaws.com', { https_proxy: P })).toBe(P);
    expect(proxyFor('http://127.0.0.1:7480', { HTTPS_PROXY: P })).toBeUndefined();
    expect(proxyFor('http://127.0.0.1:7480', { http_proxy: P })).toBe(P);
    expect(proxyFor('http://minio:9000', { ALL_PROXY: P })).toBe(P);
  });
  it('honours NO_PROXY: exact hosts, domains, leading dots and *, ports', () => {
    const env = { HTTPS_PROXY: P, NO_PROXY: 'localhost, .internal,corp.example:8443,127.0.0.1' };
    expect(proxyFor('https://s3.internal', env)).toBeUndefined();
    expect(proxyFor('https://a.b.internal', env)).toBeUndefined();
    expect(proxyFor('https://corp.example:8443', env)).toBeUndefined();
    expect(proxyFor('https://corp.example', env)).toBe(P);
    expect(proxyFor('https://127.0.0.1:9000', env)).toBeUndefined();
    expect(proxyFor('https://s3.amazonaws.com', env)).toBe(P);
    expect(proxyFor('https://s3.amazonaws.com', { HTTPS_PROXY: P, no_proxy: '*' })).toBeUndefined();
    expect(proxyFor('https://bucket.s3.amazonaws.com', { HTTPS_PROXY: P, NO_PROXY: 'amazonaws.com' })).toBeUndefined();
  });
  it('never shows the password', () => {
    expect(redactProxy('http://alice:p%40ss%3Aword@proxy.corp:3128')).toBe('http://alice:***@proxy.corp:3128');
  });
});
