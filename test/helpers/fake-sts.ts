import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface FakeSts {
  url: string;
  /** The headers of every request it answered (squid adds Via). */
  requests: Array<{ body: string; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

/**
 * An STS endpoint on 127.0.0.1 that answers AssumeRole and AssumeRoleWithWebIdentity with the given
 * keys (no session token: the S3 server behind them knows only its own keys). Stands for the AWS STS
 * a role profile calls.
 */
export async function startFakeSts(keys: { accessKey: string; secretKey: string }): Promise<FakeSts> {
  const requests: FakeSts['requests'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ body, headers: req.headers });
      // AssumeRole (signed) or AssumeRoleWithWebIdentity (unsigned, with the token): the same answer.
      const action = /Action=(AssumeRoleWithWebIdentity|AssumeRole)\b/.exec(body)?.[1] ?? 'AssumeRole';
      const xml =
        `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result><Credentials>` +
        `<AccessKeyId>${keys.accessKey}</AccessKeyId><SecretAccessKey>${keys.secretKey}</SecretAccessKey>` +
        '<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser>' +
        '<Arn>arn:aws:sts::123456789012:assumed-role/cfd/ferry</Arn><AssumedRoleId>AROA:ferry</AssumedRoleId>' +
        `</AssumedRoleUser></${action}Result><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>` +
        `</${action}Response>`;
      res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
