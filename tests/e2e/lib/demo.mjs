// Shared scaffolding for the demo-page tests: one daemon serving html/ and
// one Chromium per test file, and polling a page until a condition holds.
//
//   const env = demoEnv({ plugins: [installedPluginSo('videoroom')] });
//   test('...', async () => { const page = await env.browser.newPage(); ... env.gw.httpUrl ... });
import { before, after } from 'node:test';
import path from 'node:path';
import { startGateway, REPO } from './gateway.mjs';
import { launchChromium } from './browser.mjs';

// Registers the file's before/after hooks; the returned object's gw and
// browser are set once `before` ran. Media stays on loopback (see
// echotest.test.mjs). Extra startGateway options are merged in.
export function demoEnv(opts = {}) {
	const env = { gw: null, browser: null };
	before(async () => {
		env.gw = await startGateway({
			core: { nat: { ice_enforce_list: '127.0.0.1' } },
			http: { static: { enabled: true, folder: path.join(REPO, 'html'), path: '/' } },
			...opts,
		});
		env.browser = await launchChromium();
	});
	after(async () => {
		await env.browser?.close().catch(() => {});
		if (!env.gw)
			return;
		try {
			await env.gw.stop();
		} finally {
			env.gw.cleanup();
		}
	});
	return env;
}

// Evaluates fn(arg) in the page until ok(result) or the deadline; returns
// the last result either way (the caller's assertion explains a miss).
export async function pollPage(page, fn, ok, timeoutMs, arg) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await page.evaluate(fn, arg);
		if (ok(value) || Date.now() > deadline)
			return value;
		await page.waitForTimeout(250);
	}
}

// Makes the page keep every WebSocket it opens (window.openSockets), so a
// case can drop one as a network blip would. Call before page.goto().
export async function keepPageSockets(page) {
	await page.addInitScript(() => {
		const Native = window.WebSocket;
		window.openSockets = [];
		window.WebSocket = class extends Native {
			constructor(...args) {
				super(...args);
				window.openSockets.push(this);
			}
		};
	});
}
