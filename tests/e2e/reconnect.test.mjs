// The html/ demos reconnect and rejoin by themselves (issue 8), in headless
// Chromium:
//   - the echotest page's WebSocket drops while the gateway keeps the session
//     (reclaim_session_timeout): cardea.js reconnects and claims it, the call
//     is not touched and the echoed video never stops;
//   - the gateway restarts under the echotest page (over WebSocket and over
//     HTTP long poll): the session is gone, the page calls again by itself on
//     a fresh session and decodes the echo again;
//   - the gateway restarts under two videoroom pages: both rejoin the room
//     (which the first one back creates again) and decode each other again.
// The daemon is restarted in place: same binary, arguments and ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo, assertCleanExit } from './lib/gateway.mjs';
import { demoEnv, openKeptPage, pageContext, pollPage as poll, restartGateway as restartGatewayIn } from './lib/demo.mjs';

const CASE = { timeout: 120000 };
const WEBRTCUP_MS = 20000;
const DECODE_MS = 20000;
// The page backs off 1, 2, 4 s... between attempts while the gateway is
// down; cardea.js first spends its own WebSocket retries.
const REJOIN_MS = 45000;
const DOWN_MS = 1500;        // how long the gateway stays down

const env = demoEnv({
	plugins: [installedPluginSo('echotest'), installedPluginSo('videoroom')],
	pluginConfigs: { videoroom: { general: {} } },
	core: { general: { reclaim_session_timeout: 10 }, nat: { ice_enforce_list: '127.0.0.1' } },
});

const restartGateway = () => restartGatewayIn(env.gw, DOWN_MS);

// Pages keep every WebSocket they open (window.openSockets), so a case can
// drop one as a network blip would.
const openPage = (url, logs) => openKeptPage(env.browser, url, logs);
const context = logs => pageContext(env.gw, logs);

// ---- echotest ----

const echoState = () => {
	const d = window.cardeaDemo;
	return { state: d.state, webrtcup: d.webrtcup, error: d.error, sessionId: d.sessionId, handleId: d.handleId,
		claims: d.claims, reconnects: d.reconnects, transport: d.transport };
};
const inboundVideo = () => window.cardeaDemo.inboundVideo();
const samePc = () => window.cardeaDemo.pc === window.firstPc;

// Waits for webrtcup, then for decoded frames beyond `after` (0 = any).
async function echoUp(page, logs, what) {
	const d = await poll(page, echoState, s => s.webrtcup || s.error, WEBRTCUP_MS + REJOIN_MS);
	assert.equal(d.error, null, `${what}: page error${context(logs)}`);
	assert.equal(d.webrtcup, true, `${what}: no webrtcup (state ${d.state})${context(logs)}`);
	const v = await poll(page, inboundVideo, s => s?.framesDecoded > 0, DECODE_MS);
	assert.ok(v?.framesDecoded > 0, `${what}: no echoed frames decoded: ${JSON.stringify(v)}${context(logs)}`);
	return d;
}

async function startEcho(query, logs) {
	const page = await openPage(`${env.gw.httpUrl}/echotest.html?${query}`, logs);
	await poll(page, echoState, s => s.state === 'idle', 10000);
	await page.click('#start');
	const d = await echoUp(page, logs, 'first call');
	await page.evaluate(() => { window.firstPc = window.cardeaDemo.pc; });
	return { page, first: d };
}

test('echotest page: a dropped WebSocket is reconnected and the session claimed, the call goes on', CASE, async () => {
	const logs = [];
	const { page, first } = await startEcho(`transport=ws&ws=${encodeURIComponent(env.gw.wsUrl)}`, logs);
	try {
		const before = await page.evaluate(inboundVideo);
		await page.evaluate(() => window.openSockets.forEach(ws => ws.close()));
		const d = await poll(page, echoState, s => s.claims > 0 || s.error, 15000);
		assert.equal(d.claims, 1, `no claim after the drop: ${JSON.stringify(d)}${context(logs)}`);
		assert.equal(d.reconnects, 0, 'the session survived: no new call');
		assert.equal(d.sessionId, first.sessionId);
		assert.equal(d.handleId, first.handleId);
		assert.equal(d.state, 'connected');
		assert.equal(await page.evaluate(samePc), true, 'the PeerConnection was kept');
		assert.equal(await page.evaluate(() => window.openSockets.filter(ws => ws.readyState === 1).length), 1);
		// The echo kept flowing across the gap and still does.
		await page.waitForTimeout(2000);
		const after = await page.evaluate(inboundVideo);
		assert.ok(after.framesDecoded > before.framesDecoded + 10,
			`echo stalled: ${before.framesDecoded} -> ${after.framesDecoded} frames`);
		// And the claimed session's events reach the new connection: a hangup.
		await page.click('#hangup');
		const h = await poll(page, echoState, s => s.state === 'hungup', 10000);
		assert.equal(h.state, 'hungup');
		assert.match(await page.textContent('#events'), /hangup: Janus API/);
		assert.deepEqual(logs[0].filter(l => /^(error|pageerror)/.test(l)), [], 'console errors');
	} finally {
		await page.close();
	}
});

for (const [name, query] of [['WebSocket', () => `transport=ws&ws=${encodeURIComponent(env.gw.wsUrl)}`],
	['HTTP long poll', () => 'transport=http']]) {
	test(`echotest page over ${name}: calls again by itself after the gateway restarted`, CASE, async () => {
		const logs = [];
		const { page, first } = await startEcho(query(), logs);
		try {
			await restartGateway();
			const lost = await poll(page, echoState, s => s.reconnects > 0, REJOIN_MS);
			assert.equal(lost.reconnects, 1, `the page did not notice: ${JSON.stringify(lost)}${context(logs)}`);
			const d = await echoUp(page, logs, 'after the restart');
			assert.equal(d.state, 'connected');
			assert.equal(d.reconnects, 1);
			assert.notEqual(d.sessionId, first.sessionId, 'a fresh session');
			assert.equal(await page.evaluate(samePc), false, 'a new PeerConnection');
			assert.match(await page.textContent('#events'), /connection to the gateway lost/);
			const a = await page.evaluate(inboundVideo);
			await page.waitForTimeout(2000);
			const b = await page.evaluate(inboundVideo);
			assert.ok(b.framesDecoded > a.framesDecoded + 10, `echo stalled: ${a.framesDecoded} -> ${b.framesDecoded}`);
		} finally {
			await page.close();
		}
	});
}

// ---- videoroom ----

const roomState = () => {
	const d = window.cardeaDemo;
	return { state: d.state, myId: d.myId, error: d.error, published: d.published, feeds: d.feeds,
		remote: d.remote, reconnects: d.reconnects };
};
const videoStats = () => window.cardeaDemo.videoStats();

// Waits until the page decodes the video of the participant called `display`.
async function decodes(page, display, logs) {
	const has = s => Object.entries(s.remote).find(([, r]) => r.display === display && r.type === 'video');
	const d = await poll(page, roomState, has, DECODE_MS + REJOIN_MS);
	const entry = has(d);
	assert.ok(entry, `no video of ${display}: ${JSON.stringify(d.remote)}${context(logs)}`);
	const mid = entry[0];
	const st = await poll(page, videoStats, s => s[mid]?.framesDecoded > 0, DECODE_MS);
	assert.ok(st[mid]?.framesDecoded > 0, `${display} not decoded: ${JSON.stringify(st)}${context(logs)}`);
}

test('videoroom pages rejoin the room by themselves after the gateway restarted', CASE, async () => {
	const logs = [], pages = [];
	const room = String(100000 + Math.floor(Math.random() * 800000000));
	try {
		for (const display of ['Ann', 'Bob']) {
			const q = new URLSearchParams({ ws: env.gw.wsUrl, transport: 'ws', autojoin: '1', room, display });
			const page = await openPage(`${env.gw.httpUrl}/videoroom.html?${q}`, logs);
			const d = await poll(page, roomState, s => s.state === 'joined' || s.error, WEBRTCUP_MS);
			assert.equal(d.state, 'joined', `${display}: ${d.error}${context(logs)}`);
			pages.push(page);
		}
		await decodes(pages[0], 'Bob', logs);
		await decodes(pages[1], 'Ann', logs);
		const ids = await Promise.all(pages.map(p => p.evaluate(() => window.cardeaDemo.myId)));

		await restartGateway();
		for (const [i, p] of pages.entries()) {
			const d = await poll(p, roomState, s => s.reconnects > 0 && s.state === 'joined' && s.published, REJOIN_MS);
			assert.equal(d.state, 'joined', `page ${i} did not rejoin: ${JSON.stringify(d)}${context(logs)}`);
			assert.equal(d.reconnects, 1);
			assert.notEqual(d.myId, ids[i], 'a rejoin is a new participant');
		}
		await decodes(pages[0], 'Bob', logs);
		await decodes(pages[1], 'Ann', logs);
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});

test('the daemon still exits with status 0 on SIGTERM', CASE, async () => {
	await env.browser.close();
	env.browser = null;
	await assertCleanExit(env.gw);
});
