// The video call demo (html/videocall.html) in a real browser: two pages of
// one headless Chromium (fake camera and microphone) register two names; one
// calls the other, the other accepts, and both must decode the other's
// video through the gateway (which is in the media path: the callee answers
// the gateway's offer). Then the caller hangs up and both pages see it,
// the callee with the reason Janus gives the other side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, installedPluginSo, REPO, assertCleanExit } from './lib/gateway.mjs';
import { launchChromium, recordConsole } from './lib/browser.mjs';

const CASE = { timeout: 90000 };
const WEBRTCUP_MS = 20000;
const DECODE_MS = 15000;
const STEP_MS = 10000;

let gw, browser;

before(async () => {
	gw = await startGateway({
		plugins: [installedPluginSo('videocall')],
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

async function pollPage(page, fn, ok, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await page.evaluate(fn);
		if (ok(value) || Date.now() > deadline)
			return value;
		await page.waitForTimeout(200);
	}
}

const demoState = () => ({ ...window.cardeaDemo, inboundVideo: undefined });
const inboundVideo = () => window.cardeaDemo.inboundVideo();

async function openAs(name, query) {
	const page = await browser.newPage();
	const lines = recordConsole(page);
	await page.goto(`${gw.httpUrl}/videocall.html?${query}&name=${name}`);
	let demo = await pollPage(page, demoState, d => d.state !== 'connecting', STEP_MS);
	assert.equal(demo.state, 'ready', `page not ready: ${JSON.stringify(demo)}`);
	await page.click('#register');
	demo = await pollPage(page, demoState, d => d.state === 'registered' || d.lastError, STEP_MS);
	assert.equal(demo.username, name, `not registered: ${JSON.stringify(demo)}`);
	return { page, lines };
}

// Decoded video now, and more of it two seconds later.
async function decodes(page, who, context) {
	const first = await pollPage(page, inboundVideo, v => v?.framesDecoded > 0, DECODE_MS);
	assert.ok(first?.framesDecoded > 0, `${who} decodes no video: ${JSON.stringify(first)}${context()}`);
	await page.waitForTimeout(2000);
	const second = await page.evaluate(inboundVideo);
	assert.ok(second.framesDecoded > first.framesDecoded,
		`${who}'s video stalled: ${first.framesDecoded} -> ${second.framesDecoded} frames`);
}

async function callCase(query) {
	const tag = Math.random().toString(36).slice(2, 7);
	const alice = `alice-${tag}`, bob = `bob-${tag}`;
	const a = await openAs(alice, query);
	const b = await openAs(bob, query);
	const context = () => `\n--- caller console ---\n${a.lines.join('\n')}\n--- callee console ---\n${b.lines.join('\n')}` +
		`\n--- daemon log ---\n${gw.logTail(40)}`;
	try {
		// the callee is online
		await a.page.click('#refresh');
		await a.page.waitForSelector(`#users option[value="${bob}"]`, { state: 'attached', timeout: STEP_MS });

		await a.page.fill('#peer', bob);
		await a.page.click('#call');
		let demoB = await pollPage(b.page, demoState, d => d.state === 'incoming', STEP_MS);
		assert.equal(demoB.state, 'incoming', `no incoming call${context()}`);
		assert.equal(demoB.peer, alice);
		assert.match(await b.page.textContent('#incoming-text'), new RegExp(alice));
		await b.page.click('#accept');

		for (const [p, who] of [[a.page, 'caller'], [b.page, 'callee']]) {
			const d = await pollPage(p, demoState, x => (x.state === 'incall' && x.webrtcup) || x.error, WEBRTCUP_MS);
			assert.equal(d.error, null, `${who} failed${context()}`);
			assert.ok(d.state === 'incall' && d.webrtcup, `${who} not in the call: ${JSON.stringify(d)}${context()}`);
		}
		assert.equal((await a.page.evaluate(demoState)).peer, bob);
		await decodes(a.page, 'caller', context);
		await decodes(b.page, 'callee', context);

		// mute and unmute the camera (set video false/true) keep the call up
		await a.page.click('#mute-video');
		await a.page.click('#mute-video');

		await a.page.click('#hangup');
		const demoA = await pollPage(a.page, demoState, d => d.hangup, STEP_MS);
		assert.deepEqual(demoA.hangup, { username: alice, reason: 'Explicit hangup' }, context());
		demoB = await pollPage(b.page, demoState, d => d.hangup, STEP_MS);
		assert.deepEqual(demoB.hangup, { username: alice, reason: 'We did the hangup' }, context());
		assert.equal(demoB.state, 'registered');
		assert.equal(await b.page.isEnabled('#call'), true);
		for (const { lines } of [a, b])
			assert.deepEqual(lines.filter(l => /^(error|pageerror)/.test(l)), [], 'console errors');
	} finally {
		await a.page.close();
		await b.page.close();
	}
}

test('two pages call each other over the WebSocket transport', CASE, async () => {
	await callCase(`transport=ws&ws=${encodeURIComponent(gw.wsUrl)}`);
});

test('two pages call each other over HTTP long poll', CASE, async () => {
	await callCase('transport=http');
});

test('the daemon exits with status 0 on SIGTERM', CASE, async () => {
	await browser.close();
	browser = null;
	await assertCleanExit(gw);
});
