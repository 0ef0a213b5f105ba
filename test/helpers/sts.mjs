// Signed IAM and STS calls to the test server (Ceph RGW serves both on its S3 port), and, run as a
// program, a credential_process: `node sts.mjs assume ENDPOINT ROLE_ARN SECONDS CALLS_FILE` prints
// the credentials of a fresh AssumeRole session (as the keys in FERRY_TEST_STS_KEY / _SECRET) in
// the credential_process format, appends them as one JSON line to CALLS_FILE per call (what it
// printed, for the test to look for), and writes their expiry (Unix seconds) to CALLS_FILE.expires.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { URLSearchParams } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';

/** The hash the signer asks for: SHA-256, or HMAC-SHA-256 when given a secret. */
class Sha256 {
  constructor(secret) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(d) {
    this.h.update(d);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

/** POSTs one query-protocol action (IAM or STS) signed with `keys`; returns the XML answer. */
export async function call(endpoint, keys, service, params) {
  const url = new URL(endpoint);
  const version = service === 'iam' ? '2010-05-08' : '2011-06-15';
  // Ceph RGW 16 reads the action from the start of the body: Version after the parameters.
  const body = new URLSearchParams({ ...params, Version: version }).toString();
  const signer = new SignatureV4({
    credentials: { accessKeyId: keys.accessKey, secretAccessKey: keys.secretKey },
    region: 'us-east-1',
    service,
    sha256: Sha256,
  });
  const req = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: {
      host: url.host,
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  });
  const { status, text } = await new Promise((resolve, reject) => {
    const r = request(url, { method: 'POST', headers: req.headers }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    r.on('error', reject);
    r.end(body);
  });
  if (status !== 200) throw new Error(`${service} ${params.Action}: HTTP ${status} ${text}`);
  return text;
}

const tag = (xml, name) => xml.match(new RegExp(`<${name}>([^<]*)</${name}>`))?.[1];

/** AssumeRole: the session's keys, token and expiry. */
export async function assumeRole(endpoint, keys, roleArn, seconds) {
  const xml = await call(endpoint, keys, 'sts', {
    Action: 'AssumeRole',
    RoleArn: roleArn,
    RoleSessionName: 'ferry-test',
    DurationSeconds: String(seconds),
  });
  return {
    Version: 1,
    AccessKeyId: tag(xml, 'AccessKeyId'),
    SecretAccessKey: tag(xml, 'SecretAccessKey'),
    SessionToken: tag(xml, 'SessionToken'),
    Expiration: tag(xml, 'Expiration'),
  };
}

if (process.argv[2] === 'assume') {
  const [, , , endpoint, roleArn, seconds, calls] = process.argv;
  const keys = { accessKey: process.env.FERRY_TEST_STS_KEY, secretKey: process.env.FERRY_TEST_STS_SECRET };
  const creds = await assumeRole(endpoint, keys, roleArn, Number(seconds));
  appendFileSync(calls, `${JSON.stringify({ at: new Date().toISOString(), ...creds })}\n`);
  writeFileSync(`${calls}.expires`, `${Math.ceil(Date.parse(creds.Expiration) / 1000)}\n`);
  process.stdout.write(JSON.stringify(creds));
}
