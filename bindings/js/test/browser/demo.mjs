// The checkout demo (bindings/js/demo) in real headless Chromium, driven by playwright-core (Debian's
// /usr/bin/chromium, no browser download). Loads the page with GPC on, checks the three decisions against the
// CPRA pack, toggles GPC off, checks the ad pixel flips as the pack says, and saves a screenshot to
// target/artifacts/checkout-demo.png (GPC on) and checkout-demo-gpc-off.png (PRIVET_ARTIFACTS_DIR overrides the directory). Used by
// scripts/test-browser.sh; prints TAP-like lines and `N passed, N failed`.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

import { startDemo } from '../../demo/serve.mjs';
import { repoRoot } from './server.mjs';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = resolve(process.env.PRIVET_ARTIFACTS_DIR ?? join(repoRoot, 'target/artifacts'));
const screenshot = join(artifacts, 'checkout-demo.png');
const timeout = Number(process.env.PRIVET_BROWSER_TIMEOUT_MS ?? 60000);

const results = [];
async function t(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n${String(e?.stack ?? e).replace(/^/gm, '    ')}`);
  }
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}

const demo = await startDemo();
const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(timeout);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(`${m.text()} (${m.location()?.url ?? ''})`));
  page.on('response', (r) => r.status() >= 400 && pageErrors.push(`HTTP ${r.status()} for ${r.url()}`));

  // Everything the page shows for one destination.
  const flow = (key) =>
    page.$eval(`.flow[data-flow="${key}"]`, (e) => ({
      decision: e.dataset.decision,
      reasons: e.dataset.reasons.split(' ').filter(Boolean),
      verdict: e.querySelector('.verdict').textContent.trim(),
      citations: [...e.querySelectorAll('.why .cite')].map((c) => c.textContent),
      reasonTexts: [...e.querySelectorAll('.why .text')].map((c) => c.textContent),
      obligations: [...e.querySelectorAll('.obligations span')].map((c) => c.textContent),
    }));
  const waitGpc = (on) => page.waitForSelector(`body[data-ready="true"][data-gpc="${on}"]`);

  await t('demo loads the CPRA pack and decides with GPC on', async () => {
    await page.goto(demo.url);
    await Promise.race([
      waitGpc(true),
      page.waitForSelector('body[data-error]').then(async () => {
        throw new Error(`the demo failed: ${await page.getAttribute('body', 'data-error')}`);
      }),
    ]);
    check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  });

  await t('GPC on: the ad pixel is denied by the GPC opt-out, with citation and the display obligation', async () => {
    const ad = await flow('adpixel');
    check(ad.decision === 'deny' && ad.verdict === 'deny', `ad pixel: ${JSON.stringify(ad)}`);
    check(JSON.stringify(ad.reasons) === JSON.stringify(['cpra-gpc-optout-blocks-sale-share']), `reasons ${ad.reasons}`);
    check(ad.citations.some((c) => c.includes('§1798.120') && c.includes('7025')), `citations ${ad.citations}`);
    check(ad.reasonTexts.some((r) => r.includes('Global Privacy Control')), `reason ${ad.reasonTexts}`);
    check(ad.obligations.some((o) => o.includes('Opt-Out Request Honored')), `obligations ${ad.obligations}`);
    const banner = await page.textContent('#banner');
    check(banner.includes('Opt-Out Request Honored') && (await page.isVisible('#banner')), `banner "${banner}"`);
  });

  await t('GPC on: analytics and the payment processor (service providers, contracted purposes) are allowed', async () => {
    for (const key of ['analytics', 'payment']) {
      const f = await flow(key);
      check(f.decision === 'allow', `${key}: ${JSON.stringify(f)}`);
      check(JSON.stringify(f.reasons) === JSON.stringify(['cpra-disclose-service-provider-business-purpose']), `${key} reasons ${f.reasons}`);
      check(f.citations.length === 1 && f.citations[0].includes('§1798.140'), `${key} citations ${f.citations}`);
    }
  });

  await t('toggling GPC off re-decides live: the ad pixel becomes allowed as a contracted third party', async () => {
    await page.click('#gpc');
    await waitGpc(false);
    const ad = await flow('adpixel');
    check(ad.decision === 'allow', `ad pixel: ${JSON.stringify(ad)}`);
    check(JSON.stringify(ad.reasons) === JSON.stringify(['cpra-disclose-third-party']), `reasons ${ad.reasons}`);
    check(ad.obligations.length === 0, `obligations ${ad.obligations}`);
    check(!(await page.isVisible('#banner')), 'the opt-out banner is still shown');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'checkout-demo-gpc-off.png'), fullPage: true });
    check((await flow('payment')).decision === 'allow', 'payment');
    check((await flow('analytics')).decision === 'allow', 'analytics');
  });

  await t(`screenshot saved (${screenshot})`, async () => {
    // The interesting state for a reader: GPC on, the ad pixel blocked, the banner shown.
    await page.click('#gpc');
    await waitGpc(true);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  });
} finally {
  await browser.close();
  await demo.close();
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
