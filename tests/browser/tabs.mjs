// Opens sessiond's dashboard in TABS tabs of one headless Chromium (playwright-core, as
// dashboard.mjs) and reports how many went live within WAIT_MS, and the protocol each
// tab's page and stream used. Over HTTP/1.1 a browser holds at most 6 connections per
// host, and each tab's live stream keeps one: tabs past the sixth wait. Over HTTP/2 the
// streams share one connection.
//
// Run by tests/tls.rs with:
//   BASE_URL  e.g. https://127.0.0.1:8443 (a self-signed certificate is accepted)
//   TOKEN     a User token
//   TABS      how many tabs (8)
//   WAIT_MS   how long to wait for every tab to go live
// Prints one JSON line: {"live": N, "tabs": [{"state": "...", "page": "h2", "stream": "h2"}, ...]}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const BASE_URL = process.env.BASE_URL.replace(/\/+$/, '');
const TOKEN = process.env.TOKEN;
const TABS = Number(process.env.TABS || 8);
const WAIT_MS = Number(process.env.WAIT_MS || 15000);

/** `promise`, or `fallback` after `ms`: a tab still waiting for a connection answers nothing. */
const within = (promise, ms, fallback) =>
    Promise.race([promise.catch(() => fallback), new Promise((r) => setTimeout(() => r(fallback), ms))]);

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessiond-tabs-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
});
try {
    const pages = [];
    for (let i = 0; i < TABS; i++) {
        const page = i === 0 ? (context.pages()[0] || await context.newPage()) : await context.newPage();
        // Not awaited to the end: over HTTP/1.1 a tab past the sixth cannot even load the
        // page while the others' streams hold every connection.
        page.goto(`${BASE_URL}/#token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'commit', timeout: WAIT_MS })
            .catch(() => {});
        pages.push(page);
    }
    const deadline = Date.now() + WAIT_MS;
    const stateOf = (page) => within(page.getAttribute('#connection', 'data-state', { timeout: 500 }), 1000, 'not loaded');
    const live = (page) => stateOf(page).then((s) => s === 'live');
    while (Date.now() < deadline) {
        const states = await Promise.all(pages.map(live));
        if (states.every(Boolean)) break;
        await new Promise((r) => setTimeout(r, 200));
    }
    const tabs = await Promise.all(pages.map(async (page) => {
        const state = await stateOf(page);
        const protocols = await within(page.evaluate(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const stream = performance.getEntriesByType('resource')
                .find((e) => e.name.includes('/sessions/active/stream'));
            return { page: nav ? nav.nextHopProtocol : '', stream: stream ? stream.nextHopProtocol : '' };
        }), 1000, { page: '', stream: '' });
        return { state, ...protocols };
    }));
    console.log(JSON.stringify({ live: tabs.filter((t) => t.state === 'live').length, tabs }));
} finally {
    await within(context.close(), 5000, null);
    fs.rmSync(profile, { recursive: true, force: true });
}
// Chromium may still hold connections open: the report is printed, so leave now.
process.exit(0);
