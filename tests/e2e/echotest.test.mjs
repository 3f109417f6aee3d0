// The echotest demo page (html/echotest.html) in a real browser: headless
// Chromium with a fake camera and microphone, driven by playwright-core,
// served by the daemon's HTTP transport from the repository's html/ folder.
// Once with the WebSocket transport, once with HTTP long poll: the echoed
// video must be decoded (framesDecoded > 0, bytesReceived growing) after a
// webrtcup, and a hangup must show on the page.
//
// Media stays on loopback: the gateway gathers on 127.0.0.1 only
// (nat.ice_enforce_list) and Chromium offers 127.0.0.1 candidates thanks to
// --allow-loopback-in-peer-connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startGateway, installedPluginSo, REPO, assertCleanExit } from './lib/gateway.mjs';
import { launchChromium, recordConsole } from './lib/browser.mjs';

const SCREENSHOT_DIR = process.env.CARDEA_SCREENSHOTS || path.join(REPO, 'logs');
const CASE = { timeout: 60000 };
// Waiting budgets inside a case (ms): all well under the 60 s per case.
const WEBRTCUP_MS = 20000;
const DECODE_MS = 15000;
const HANGUP_MS = 10000;

let gw, browser;   // browser: playwright's BrowserContext

before(async () => {
	gw = await startGateway({
		plugins: [installedPluginSo('echotest')],
		core: { nat: { ice_enforce_list: '127.0.0.1' } },
		http: { static: { enabled: true, folder: path.join(REPO, 'html'), path: '/' } },
	});
	browser = await launchChromium();
});

after(async () => {
	await browser?.close().catch(() => {});
	if (!gw)
		return;
	try {
		await gw.stop();
	} finally {
		gw.cleanup();
	}
});

// Evaluates fn in the page until ok(result) or the deadline; returns the
// last result either way (the caller's assertion explains a miss).
async function pollPage(page, fn, ok, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await page.evaluate(fn);
		if (ok(value) || Date.now() > deadline)
			return value;
		await page.waitForTimeout(200);
	}
}

const demoState = () => ({ ...window.cardeaDemo, pc: undefined, inboundVideo: undefined });
const inboundVideo = () => window.cardeaDemo.inboundVideo();

// One call on an open page: Start, webrtcup, decoded echo, hang up.
async function oneCall(page, expectedTransport, screenshot, context) {
	await page.click('#start');
	let demo = await pollPage(page, demoState, d => d.webrtcup || d.error, WEBRTCUP_MS);
	assert.equal(demo.error, null, `page error${context()}`);
	assert.equal(demo.webrtcup, true, `no webrtcup within ${WEBRTCUP_MS} ms (state ${demo.state})${context()}`);
	assert.equal(demo.transport, expectedTransport);
	assert.ok(Number.isSafeInteger(demo.sessionId) && Number.isSafeInteger(demo.handleId));

	// Decoded echo: frames decoded, and bytes still arriving 2 s later.
	const first = await pollPage(page, inboundVideo, v => v?.framesDecoded > 0, DECODE_MS);
	assert.ok(first?.framesDecoded > 0, `no decoded echo frames: ${JSON.stringify(first)}${context()}`);
	await page.waitForTimeout(2000);
	const second = await page.evaluate(inboundVideo);
	assert.ok(second.bytesReceived > first.bytesReceived,
		`echoed video stalled: ${first.bytesReceived} -> ${second.bytesReceived} bytes`);
	assert.ok(second.framesDecoded > first.framesDecoded,
		`no new frames decoded: ${first.framesDecoded} -> ${second.framesDecoded}`);

	// The page's own table shows it too (refreshed every second).
	demo = await pollPage(page, demoState, d => d.stats?.framesDecoded > 0, 3000);
	assert.ok(Number(await page.textContent('#st-frames-decoded')) > 0,
		`stats table: ${JSON.stringify(demo.stats)}`);
	assert.match(await page.textContent('#st-pair'), /127\.0\.0\.1:\d+/);
	assert.equal(await page.getAttribute('#badge-webrtcup', 'class'), 'badge on');

	if (screenshot) {
		fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
		await page.screenshot({ path: path.join(SCREENSHOT_DIR, screenshot), fullPage: true });
	}

	// Hang up: the gateway confirms with a hangup event, the page says so.
	// janus.js sends the hangup request and closes its PeerConnection at
	// once: the request or the DTLS close_notify may reach the gateway first
	// (an ASan CI run saw the alert win over HTTP long poll).
	await page.click('#hangup');
	demo = await pollPage(page, demoState, d => d.hangup !== null, HANGUP_MS);
	assert.ok(['Janus API', 'DTLS alert'].includes(demo.hangup), `no hangup event (${demo.hangup})${context()}`);
	assert.equal(demo.state, 'hungup');
	assert.ok((await page.textContent('#status')).includes(`Hung up (${demo.hangup})`));
	assert.ok((await page.textContent('#events')).includes(`hangup: ${demo.hangup}`));
	assert.equal(await page.getAttribute('#badge-webrtcup', 'class'), 'badge');
	assert.equal(await page.isEnabled('#start'), true);
	return demo;
}

// Opens the page with the given query and makes `calls` calls in a row
// (later ones reuse the session and handle, as a user pressing Start again).
async function echoCase(query, expectedTransport, { screenshot = null, calls = 1 } = {}) {
	const page = await browser.newPage();
	const consoleLines = recordConsole(page);
	const context = () => `\n--- page console ---\n${consoleLines.join('\n')}\n--- daemon log ---\n${gw.logTail(30)}`;
	try {
		await page.goto(`${gw.httpUrl}/echotest.html?${query}`);
		await pollPage(page, demoState, d => d.state === 'idle', 10000);
		let ids = null;
		for (let i = 0; i < calls; i++) {
			const demo = await oneCall(page, expectedTransport, i === 0 ? screenshot : null, context);
			if (ids)
				assert.deepEqual([demo.sessionId, demo.handleId], ids, 'a new call reuses the session and handle');
			ids = [demo.sessionId, demo.handleId];
		}
		assert.deepEqual(consoleLines.filter(l => /^(error|pageerror)/.test(l)), [], 'console errors');
	} finally {
		await page.close();
	}
}

test('echotest page echoes video over the WebSocket transport', CASE, async () => {
	await echoCase(`transport=ws&ws=${encodeURIComponent(gw.wsUrl)}`, 'websocket', { screenshot: 'echotest-websocket.png' });
});

test('echotest page echoes video over HTTP long poll, twice on one handle', CASE, async () => {
	await echoCase('transport=http', 'http', { calls: 2 });
});

test('the index page links the echotest demo', CASE, async () => {
	const page = await browser.newPage();
	try {
		await page.goto(`${gw.httpUrl}/index.html?ws=${encodeURIComponent(gw.wsUrl)}`);
		const link = page.locator('#demos a[href^="echotest.html"]');
		await link.waitFor({ timeout: 10000 });
		assert.equal(await link.getAttribute('href'), `echotest.html?ws=${encodeURIComponent(gw.wsUrl)}`);
		assert.match(await page.textContent('#modules'), /janus\.plugin\.echotest/);
	} finally {
		await page.close();
	}
});

test('the daemon exits with status 0 on SIGTERM', CASE, async () => {
	await browser.close();
	browser = null;
	await assertCleanExit(gw);
});
