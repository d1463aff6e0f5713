// Opens sessiond's live dashboard in Debian's headless Chromium (playwright-core, version
// pinned in package.json) and watches a session arrive over the stream.
//
// Run by tests/dashboard_browser.rs, which starts tansu and `sessiond serve`, and passes:
//   BASE_URL    e.g. http://127.0.0.1:8123
//   TOKEN       a User token for the user whose sessions the page shows
//   SESSION_ID  a session the test starts once this script has printed LIVE
//   SCREENSHOT  where to write a full-page PNG once that session's row is shown
// Standalone: npm ci --prefix tests/browser && BASE_URL=... TOKEN=... SESSION_ID=... \
//   SCREENSHOT=/tmp/dashboard.png node tests/browser/dashboard.mjs
//
// Prints `LIVE` once the page's connection indicator is live (its first snapshot has
// arrived), then `SEEN` once the row of SESSION_ID is on screen and the screenshot is
// written; exits 0. On any failure it prints the reason and the page's connection state
// and exits non-zero.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15_000;

function env(name) {
    const value = process.env[name];
    if (!value) {
        console.error(`dashboard.mjs: environment variable ${name} is not set`);
        process.exit(2);
    }
    return value;
}

const BASE_URL = env('BASE_URL').replace(/\/+$/, '');
const TOKEN = env('TOKEN');
const SESSION_ID = env('SESSION_ID');
const SCREENSHOT = env('SCREENSHOT');

if (!fs.existsSync(CHROMIUM)) {
    console.error(`dashboard.mjs: ${CHROMIUM} is missing: run scripts/install-chromium (scripts/setup-test-deps does)`);
    process.exit(2);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessiond-dashboard-chromium-'));
let context;
let page;
/** What the page said, for the failure report. */
const pageLog = [];

/** The page's connection indicator: its data-state and its text. */
async function connectionState() {
    if (!page) return 'no page';
    try {
        return await page.$eval('#connection', (node) =>
            `${node.getAttribute('data-state')} (${node.textContent.replace(/\s+/g, ' ').trim()})`);
    } catch (e) {
        return `unknown (${e.message.split('\n')[0]})`;
    }
}

async function fail(reason) {
    console.log(`FAIL: ${reason}`);
    console.log(`connection state: ${await connectionState()}`);
    if (page) {
        try {
            const notice = await page.$eval('#notice', (n) => (n.hidden ? '' : n.textContent.replace(/\s+/g, ' ').trim()));
            if (notice) console.log(`notice: ${notice}`);
            const rows = await page.$$eval('tr[data-session-id]', (rs) => rs.map((r) => r.dataset.sessionId));
            console.log(`rows: ${rows.join(', ') || '(none)'}`);
        } catch {
            // The page is gone; the reason says why.
        }
    }
    for (const line of pageLog.slice(-20)) console.log(`page: ${line}`);
    await close();
    process.exit(1);
}

async function close() {
    try {
        if (context) await context.close();
    } catch {
        // Already closed.
    }
    fs.rmSync(profile, { recursive: true, force: true });
}

process.on('unhandledRejection', (e) => fail(`unexpected error: ${e && e.stack ? e.stack : e}`));

try {
    // A fresh profile each run; the flags keep Chromium off the network beyond localhost.
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
        viewport: { width: 1280, height: 800 },
        timeout: 30_000,
    });
} catch (e) {
    await fail(`could not start Chromium: ${e.message}`);
}

page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(STEP_TIMEOUT_MS);
page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => pageLog.push(`error: ${e.message}`));
page.on('requestfailed', (r) => pageLog.push(`request failed: ${r.url().split('#')[0]} ${r.failure()?.errorText ?? ''}`));
page.on('response', (r) => {
    if (r.status() >= 400) pageLog.push(`HTTP ${r.status()} ${r.url()}`);
});

try {
    await page.goto(`${BASE_URL}/#token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'domcontentloaded' });
} catch (e) {
    await fail(`could not open ${BASE_URL}/: ${e.message.split('\n')[0]}`);
}

try {
    // Unauthorized is final (the page stops retrying): no need to wait the whole time.
    await page.waitForSelector('#connection[data-state=live], #connection[data-state=unauthorized]', {
        timeout: STEP_TIMEOUT_MS,
    });
} catch {
    await fail(`the page did not go live within ${STEP_TIMEOUT_MS / 1000} s`);
}
if ((await page.getAttribute('#connection', 'data-state')) !== 'live') {
    await fail('the page did not accept the token');
}
if (new URL(page.url()).hash.includes('token=')) {
    await fail('the token was left in the address bar');
}
console.log('LIVE');

const row = `tr[data-session-id="${SESSION_ID.replace(/["\\]/g, '\\$&')}"]`;
try {
    await page.waitForSelector(row, { state: 'visible', timeout: STEP_TIMEOUT_MS });
} catch {
    await fail(`the row of ${SESSION_ID} did not appear within ${STEP_TIMEOUT_MS / 1000} s`);
}

try {
    // The session's later events (members, a hold) follow its start by a few milliseconds:
    // wait until the row stops changing (its ticking timer aside), up to 3 s.
    await page.evaluate((selector) => new Promise((resolve) => {
        const row = document.querySelector(selector);
        if (!row) return resolve();
        let quiet = setTimeout(done, 700);
        const limit = setTimeout(done, 3000);
        const observer = new MutationObserver((mutations) => {
            const real = mutations.some((m) => {
                const node = m.target.nodeType === Node.ELEMENT_NODE ? m.target : m.target.parentElement;
                return !(node && node.closest('time.elapsed'));
            });
            if (!real) return;
            clearTimeout(quiet);
            quiet = setTimeout(done, 700);
        });
        function done() {
            observer.disconnect();
            clearTimeout(quiet);
            clearTimeout(limit);
            resolve();
        }
        observer.observe(row, { subtree: true, childList: true, characterData: true });
    }), row);
    fs.mkdirSync(path.dirname(path.resolve(SCREENSHOT)), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
} catch (e) {
    await fail(`could not write the screenshot ${SCREENSHOT}: ${e.message.split('\n')[0]}`);
}
console.log('SEEN');
await close();
process.exit(0);
