import { describe, expect, it } from 'vitest';
import { EXIT } from '../../agent/errors.ts';
import { PacError } from '../../agent/net/errors.ts';
import { discoverPac, machineDomain, searchDomains, wpadUrls } from '../../agent/net/wpad.ts';

describe('WPAD: where to look', () => {
  it("the machine's domain: from a qualified host name, else its /etc/hosts line", () => {
    expect(machineDomain('ws42.eng.corp.example', '')).toBe('eng.corp.example');
    const hosts = '127.0.0.1 localhost\n10.1.2.3 ws42.eng.corp.example ws42 # this machine\n';
    expect(machineDomain('ws42', hosts)).toBe('eng.corp.example');
    expect(machineDomain('vm', '127.0.0.1 localhost\n127.0.0.1 vm\n')).toBeUndefined();
    expect(machineDomain('ws4', hosts)).toBeUndefined(); // ws42's line is not ws4's
  });
  it("resolv.conf's domain and search names, in order, comments and trailing dots left out", () => {
    const conf =
      '# made by NetworkManager\nnameserver 10.0.0.53\ndomain corp.example.\n' +
      'search eng.corp.example lab.corp.example ; x\n';
    expect(searchDomains(conf)).toEqual(['corp.example', 'eng.corp.example', 'lab.corp.example']);
    expect(searchDomains('nameserver 10.0.0.53\n')).toEqual([]);
  });
  it('each domain from its most specific name down to two labels, each URL once', () => {
    expect(wpadUrls(['eng.corp.example', 'lab.corp.example', 'corp.example', 'localdomain'])).toEqual([
      'http://wpad.eng.corp.example/wpad.dat',
      'http://wpad.corp.example/wpad.dat',
      'http://wpad.lab.corp.example/wpad.dat',
    ]);
  });
});

describe('WPAD: the first that answers', () => {
  const urls = [
    'http://wpad.a.corp.example/wpad.dat',
    'http://wpad.corp.example/wpad.dat',
    'http://wpad.b.example/wpad.dat',
  ];
  const fetcher = (answers: Record<string, string>, asked: string[]) => async (url: string) => {
    asked.push(url);
    if (url in answers) return answers[url];
    throw new PacError(`cannot fetch the PAC file ${url}: ENOTFOUND getaddrinfo ENOTFOUND`, EXIT.unavailable, 'h');
  };
  it('tries in order, stops at the first PAC, and says in the log which URL it is', async () => {
    const asked: string[] = [];
    const said: string[] = [];
    const got = await discoverPac(
      fetcher({ [urls[1]]: 'function FindProxyForURL(){}', [urls[2]]: 'x' }, asked),
      (m) => said.push(m),
      urls,
    );
    expect(got).toEqual({ url: urls[1], text: 'function FindProxyForURL(){}' });
    expect(asked).toEqual(urls.slice(0, 2));
    expect(said).toEqual([
      `WPAD: the PAC file is ${urls[1]} (not found first: ${urls[0]} (ENOTFOUND getaddrinfo ENOTFOUND))`,
    ]);
  });
  it('none answers: 69 naming every URL tried and why', async () => {
    const e = (await discoverPac(fetcher({}, []), () => undefined, urls).catch((err: unknown) => err)) as PacError;
    expect(e).toBeInstanceOf(PacError);
    expect(e.exitCode).toBe(EXIT.unavailable);
    const tried = urls.map((u) => `${u} (ENOTFOUND getaddrinfo ENOTFOUND)`).join(', ');
    expect(e.message).toBe(`--proxy-pac auto: WPAD found no PAC file: tried ${tried}`);
    expect(e.hint).toContain('--proxy-pac');
  });
  it('no DNS domain at all: 69 saying so', async () => {
    const e = (await discoverPac(fetcher({}, []), () => undefined, []).catch((err: unknown) => err)) as PacError;
    expect(e.message).toContain('this machine has no DNS domain');
  });
  it('a failure that is not about the PAC is not swallowed', async () => {
    const boom = async () => {
      throw new TypeError('a bug');
    };
    await expect(discoverPac(boom, () => undefined, urls)).rejects.toThrow('a bug');
  });
});
