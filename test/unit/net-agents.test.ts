import { describe, expect, it } from 'vitest';
import { openNetwork } from '../../agent/net/index.ts';

describe("the network's agents", () => {
  it('say their protocol without building an Error per request (agent-base reads a stack otherwise)', async () => {
    const net = await openNetwork({
      env: {},
      maxSockets: 4,
      connectTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      warn: () => {},
      info: () => {},
    });
    const before = Error.prepareStackTrace;
    let stacks = 0;
    Error.prepareStackTrace = (err, frames) => {
      stacks++;
      return before ? before(err, frames) : String(err);
    };
    try {
      const { httpAgent, httpsAgent } = net.agents;
      const protocol = (a: unknown) => (a as { protocol: string }).protocol; // not in @types/node's Agent
      const names: string[] = [];
      for (let i = 0; i < 50; i++) {
        names.push(protocol(httpAgent), protocol(httpsAgent));
        names.push(httpAgent.getName({ host: 'h', port: 80 }), httpsAgent.getName({ host: 'h', port: 443 }));
      }
      expect(stacks).toBe(0);
      expect(new Set(names)).toEqual(new Set(['http:', 'https:', 'h:80:', 'h:443:::::::::::::::::::::']));
    } finally {
      Error.prepareStackTrace = before;
      net.destroy();
    }
  });
});
