// Shared scaffolding for the demo-page tests: one daemon serving html/ and
// one Chromium per test file, and polling a page until a condition holds.
//
//   const env = demoEnv({ plugins: [installedPluginSo('videoroom')] });
//   test('...', async () => { const page = await env.browser.newPage(); ... env.gw.httpUrl ... });
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startGateway, portOpen, REPO } from './gateway.mjs';
import { launchChromium, recordConsole } from './browser.mjs';

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

// A page that keeps its WebSockets (keepPageSockets) and whose console goes
// to a new entry of `logs`, opened at url.
export async function openKeptPage(browser, url, logs) {
	const page = await browser.newPage();
	await keepPageSockets(page);
	logs.push(recordConsole(page));
	await page.goto(url);
	return page;
}

// The page consoles and the daemon log's tail, for assertion messages.
export function pageContext(gw, logs, lines = 40) {
	return `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${gw.logTail(lines)}`;
}

// Restarts the daemon in place (the reconnect tests): SIGTERM (exit status 0
// expected), down for downMs, then the same binary with the same arguments
// (so the same config and ports); resolves once HTTP and WebSocket answer.
export async function restartGateway(gw, downMs) {
	const binary = gw.proc.spawnfile;
	const args = gw.proc.spawnargs.slice(1);
	const exit = await gw.stop();
	assert.deepEqual(exit, { code: 0, signal: null }, gw.logTail());
	await new Promise(r => setTimeout(r, downMs));
	const out = fs.openSync(gw.log, 'a');
	gw.exit = null;
	gw.proc = spawn(binary, args, { stdio: ['ignore', out, out], cwd: gw.dir, env: process.env });
	fs.closeSync(out);
	gw.proc.on('exit', (code, signal) => { gw.exit = { code, signal }; });
	const deadline = Date.now() + 20000;
	for (;;) {
		assert.equal(gw.exit, null, `the daemon exited on restart:\n${gw.logTail()}`);
		assert.ok(Date.now() < deadline, `the daemon is not back:\n${gw.logTail()}`);
		try {
			const r = await fetch(`${gw.apiUrl}/info`, { signal: AbortSignal.timeout(1000) });
			if ((await r.json()).janus === 'server_info' && await portOpen(gw.wsPort))
				return;
		} catch {
			// not listening yet
		}
		await new Promise(r => setTimeout(r, 100));
	}
}
