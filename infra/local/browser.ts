import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** CHROME_PATH, then Debian's package. A missing browser is an error, never a reason to skip. */
export const chromiumPath = (): string => {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (p): p is string => Boolean(p),
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium for the browser tests (looked at ${candidates.join(', ')}): install Debian's package ` +
        '(apt-get install chromium; npm test does this itself when run as root) or set CHROME_PATH',
    );
  }
  return found;
};

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
