import { describe, expect, it } from 'vitest';
import { RUN_MARK, solverEnv, withoutAccount } from '../../agent/solver/env.ts';

const launch = { file: 'mpirun', args: [], env: { OMPI_ALLOW_RUN_AS_ROOT: '1' }, notes: [] };

describe("the solver's environment", () => {
  it('a proxy URL loses its account, in every form ferry itself accepts; the rest of it stays as written', () => {
    expect(withoutAccount('http://u:p%40ss@proxy:8080')).toBe('http://proxy:8080');
    expect(withoutAccount('http://u:p@proxy:8080/')).toBe('http://proxy:8080/');
    expect(withoutAccount('u:p@proxy:8080')).toBe('proxy:8080');
    expect(withoutAccount('proxy:8080')).toBe('proxy:8080');
    expect(withoutAccount('http://proxy.corp:3128')).toBe('http://proxy.corp:3128');
    expect(withoutAccount('not a url')).toBe('not a url');
  });

  it('drops credentials, token variables and ferry’s own mark; keeps the rest; the mark set', () => {
    const env = {
      PATH: '/bin',
      HTTPS_PROXY: 'http://u:secret@p:1',
      https_proxy: 'u:secret@p:1',
      ALL_PROXY: 'http://u:secret@p:1',
      NO_PROXY: 'localhost',
      AWS_SECRET_ACCESS_KEY: 'k',
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 't',
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/t',
      IDENTITY_HEADER: 'h',
      AZURE_CLIENT_SECRET: 's',
      FERRY_HELPER_MARK: 'm',
    };
    const out = solverEnv(env, launch, { mark: 'run-1', own: ['FERRY_HELPER_MARK'] });
    expect(out).toEqual({
      PATH: '/bin',
      HTTPS_PROXY: 'http://p:1',
      https_proxy: 'p:1',
      ALL_PROXY: 'http://p:1',
      NO_PROXY: 'localhost',
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      [RUN_MARK]: 'run-1',
    });
    const kept = solverEnv(env, launch, { mark: 'run-1', keepCredentials: true, own: ['FERRY_HELPER_MARK'] });
    expect(kept.HTTPS_PROXY).toBe(env.HTTPS_PROXY);
    expect(kept.IDENTITY_HEADER).toBe('h');
    expect(kept.FERRY_HELPER_MARK).toBeUndefined();
  });
});
