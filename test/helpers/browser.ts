import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (scripts/setup installs the package `chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium driven by playwright-core, with the flags that keep it off this machine's
 * closed network (no background fetches, updates or sync) and out of the sandbox root forbids.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
