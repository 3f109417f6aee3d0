// The broadcast, screen sharing and video call demos recover by themselves
// (issue 8), in headless Chromium, like echotest and videoroom do in
// reconnect.test.mjs:
//   - every page's WebSocket drops while the gateway keeps the sessions
//     (reclaim_session_timeout): cardea.js claims them, nothing is redone
//     and the media never stops;
//   - the gateway restarts: the broadcast presenter presents again on the
//     same channel and the viewer watches again; the screen sharing
//     presenter creates the room again and publishes, the viewer rejoins it
//     and watches; the video call pages register their names again, show
//     that the call ended and do not call by themselves (a call placed by
//     the test afterwards decodes again).
// Every recovery is checked on decoded video of the new PeerConnections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo, TARGET, assertCleanExit } from './lib/gateway.mjs';
import { demoEnv, openKeptPage, pageContext, pollPage as poll, restartGateway } from './lib/demo.mjs';

// cardea.plugin.broadcast has no Janus counterpart.
const CASE = { timeout: 150000 };
const START_MS = 20000;
const DECODE_MS = 20000;
// The pages back off 1, 2, 4 s... between attempts while the gateway is
// down; cardea.js first spends its own WebSocket retries.
const REJOIN_MS = 45000;
const CLAIM_MS = 15000;
const DOWN_MS = 1500;

const env = demoEnv({
	plugins: [installedPluginSo('videoroom'), installedPluginSo('videocall'),
		...(TARGET === 'janus' ? [] : [installedPluginSo('broadcast')])],
	pluginConfigs: { videoroom: { general: {} }, broadcast: { general: {}, demo: { description: 'Demo channel' } } },
	core: { general: { reclaim_session_timeout: 10 }, nat: { ice_enforce_list: '127.0.0.1' } },
});

// The page's state without its functions.
const state = () => JSON.parse(JSON.stringify(window.cardeaDemo));
// Frames decoded and the largest width over the page's received video.
const received = async () => {
	const d = window.cardeaDemo;
	if (d.inboundVideo) {
		const v = await d.inboundVideo();
		return { frames: v?.framesDecoded ?? 0, width: v?.frameWidth ?? 0 };
	}
	const all = Object.values(await d.videoStats());
	return { frames: all.reduce((n, x) => n + x.framesDecoded, 0), width: Math.max(0, ...all.map(x => x.frameWidth)) };
};
const dropSockets = () => window.openSockets.forEach(ws => ws.close());

// Console errors other than the connection attempts made while the
// gateway was down.
function consoleErrors(logs) {
	return logs.flat().filter(l => /^(error|pageerror)/.test(l) &&
		!/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|Failed to load resource|Failed to fetch/.test(l));
}

// Waits for decoded video (more than `after` frames, with a size), then for
// more of it two seconds later.
async function decodes(page, what, ctx, after = 0) {
	const a = await poll(page, received, r => r.frames > after && r.width > 0, DECODE_MS);
	assert.ok(a.frames > after && a.width > 0, `${what}: no video decoded: ${JSON.stringify(a)}${ctx()}`);
	await page.waitForTimeout(2000);
	const b = await page.evaluate(received);
	assert.ok(b.frames > a.frames + 5, `${what}: video stalled: ${a.frames} -> ${b.frames}${ctx()}`);
	return b;
}

// Drops every page's WebSocket; each page claims its session (one claim,
// same session, no rejoin) and the video of `watcher` goes on.
async function dropAndClaim(pages, watcher, ctx) {
	const before = await Promise.all(pages.map(p => p.evaluate(state)));
	const frames = (await watcher.evaluate(received)).frames;
	for (const p of pages)
		await p.evaluate(dropSockets);
	for (const [i, p] of pages.entries()) {
		const d = await poll(p, state, s => s.claims > 0 || s.reconnects > 0, CLAIM_MS);
		assert.equal(d.claims, 1, `page ${i}: no claim after the drop: ${JSON.stringify(d)}${ctx()}`);
		assert.equal(d.reconnects, 0, `page ${i}: the session survived, nothing to redo`);
		assert.equal(d.sessionId, before[i].sessionId);
		assert.equal(d.state, before[i].state);
		assert.equal(await p.evaluate(() => window.openSockets.filter(ws => ws.readyState === 1).length), 1);
	}
	await decodes(watcher, 'across the WebSocket drop', ctx, frames);
	return before;
}

// Restarts the gateway; every page must notice once and reach `ready`.
async function restartAndRejoin(pages, before, ready, ctx) {
	await restartGateway(env.gw, DOWN_MS);
	const after = [];
	for (const [i, p] of pages.entries()) {
		const d = await poll(p, state, s => (s.reconnects > 0 && ready(s)) || s.error, REJOIN_MS);
		assert.equal(d.error, null, `page ${i} failed: ${JSON.stringify(d)}${ctx()}`);
		assert.ok(d.reconnects === 1 && ready(d), `page ${i} did not recover: ${JSON.stringify(d)}${ctx()}`);
		assert.notEqual(d.sessionId, before[i].sessionId, 'a fresh session');
		after.push(d);
	}
	return after;
}

function demoUrl(file, q) {
	return `${env.gw.httpUrl}/${file}?${new URLSearchParams({ ws: env.gw.wsUrl, transport: 'ws', ...q })}`;
}

test('broadcast pages present and watch again by themselves after the gateway restarted',
	{ ...CASE, skip: TARGET === 'janus' ? 'no Janus counterpart' : false }, async () => {
		const logs = [], pages = [];
		const ctx = () => pageContext(env.gw, logs);
		try {
			const presenter = await openKeptPage(env.browser,
				demoUrl('broadcast.html', { role: 'present', source: 'canvas', channel: 'demo', autostart: '1' }), logs);
			pages.push(presenter);
			let s = await poll(presenter, state, d => d.state === 'presenting' || d.error, START_MS);
			assert.equal(s.state, 'presenting', `presenter: ${JSON.stringify(s)}${ctx()}`);
			const viewer = await openKeptPage(env.browser,
				demoUrl('broadcast.html', { role: 'watch', channel: 'demo', autostart: '1' }), logs);
			pages.push(viewer);
			s = await poll(viewer, state, d => d.state === 'watching' || d.error, START_MS);
			assert.equal(s.state, 'watching', `viewer: ${JSON.stringify(s)}${ctx()}`);
			await decodes(viewer, 'viewer', ctx);

			const before = await dropAndClaim(pages, viewer, ctx);
			assert.equal((await presenter.evaluate(state)).viewers, 1);

			await restartAndRejoin(pages, before,
				d => d.state === (d.role === 'present' ? 'presenting' : 'watching'), ctx);
			await decodes(viewer, 'viewer after the restart', ctx);
			s = await poll(presenter, state, d => d.viewers === 1, START_MS);
			assert.equal(s.viewers, 1, `the presenter does not count the viewer back: ${JSON.stringify(s)}`);
			assert.equal(s.channel, 'demo');
			assert.match(await viewer.textContent('#events'), /connection to the gateway lost/);
			assert.deepEqual(consoleErrors(logs), [], 'console errors');
		} finally {
			for (const p of pages)
				await p.close().catch(() => {});
		}
	});

test('screen sharing pages re-create the room, re-present and re-watch by themselves after the gateway restarted',
	CASE, async () => {
		const logs = [], pages = [];
		const ctx = () => pageContext(env.gw, logs);
		const room = String(100000 + Math.floor(Math.random() * 800000000));
		try {
			const presenter = await openKeptPage(env.browser, demoUrl('screenshare.html',
				{ role: 'present', source: 'canvas', room, display: 'Pat', autostart: '1' }), logs);
			pages.push(presenter);
			let s = await poll(presenter, state, d => d.state === 'presenting' || d.error, START_MS);
			assert.equal(s.state, 'presenting', `presenter: ${JSON.stringify(s)}${ctx()}`);
			const viewer = await openKeptPage(env.browser, demoUrl('screenshare.html',
				{ role: 'watch', room, display: 'Val', autostart: '1' }), logs);
			pages.push(viewer);
			s = await poll(viewer, state, d => d.state === 'watching' || d.error, START_MS);
			assert.equal(s.state, 'watching', `viewer: ${JSON.stringify(s)}${ctx()}`);
			await decodes(viewer, 'viewer', ctx);

			const before = await dropAndClaim(pages, viewer, ctx);
			const after = await restartAndRejoin(pages, before,
				d => d.state === (d.role === 'present' ? 'presenting' : 'watching'), ctx);
			assert.equal(after[1].presenter.display, 'Pat');
			assert.equal(after[1].room, Number(room));
			await decodes(viewer, 'viewer after the restart', ctx);
			assert.match(await viewer.textContent('#caption'), /Pat's screen/);
			assert.deepEqual(consoleErrors(logs), [], 'console errors');
		} finally {
			for (const p of pages)
				await p.close().catch(() => {});
		}
	});

// Opens videocall.html as `name` and registers.
async function callPage(name, query, logs, ctx) {
	const page = await openKeptPage(env.browser, `${env.gw.httpUrl}/videocall.html?${query}&name=${name}`, logs);
	let d = await poll(page, state, s => s.state !== 'connecting', START_MS);
	assert.equal(d.state, 'ready', `page not ready: ${JSON.stringify(d)}${ctx()}`);
	await page.click('#register');
	d = await poll(page, state, s => s.state === 'registered' || s.lastError, START_MS);
	assert.equal(d.username, name, `not registered: ${JSON.stringify(d)}${ctx()}`);
	return page;
}

// a calls b (whose name is in a's #peer field), b accepts, both decode.
async function call(a, b, ctx) {
	await a.click('#call');
	let d = await poll(b, state, s => s.state === 'incoming', START_MS);
	assert.equal(d.state, 'incoming', `no incoming call${ctx()}`);
	await b.click('#accept');
	for (const [p, who] of [[a, 'caller'], [b, 'callee']]) {
		d = await poll(p, state, s => (s.state === 'incall' && s.webrtcup) || s.error, START_MS);
		assert.ok(d.state === 'incall' && d.webrtcup, `${who} not in the call: ${JSON.stringify(d)}${ctx()}`);
		await decodes(p, who, ctx);
	}
}

for (const [name, query, ws] of [['WebSocket', () => `transport=ws&ws=${encodeURIComponent(env.gw.wsUrl)}`, true],
	['HTTP long poll', () => 'transport=http', false]]) {
	test(`video call pages over ${name} register again after the gateway restarted, and do not call by themselves`,
		CASE, async () => {
			const logs = [], pages = [];
			const ctx = () => pageContext(env.gw, logs);
			const tag = Math.random().toString(36).slice(2, 7);
			const alice = `alice-${tag}`, bob = `bob-${tag}`;
			try {
				const a = await callPage(alice, query(), logs, ctx);
				pages.push(a);
				const b = await callPage(bob, query(), logs, ctx);
				pages.push(b);
				await a.fill('#peer', bob);
				await call(a, b, ctx);

				let before;
				if (ws) {
					before = await dropAndClaim(pages, b, ctx);
					for (const p of pages)
						assert.equal((await p.evaluate(state)).state, 'incall', 'the call went on');
				} else {
					before = await Promise.all(pages.map(p => p.evaluate(state)));
				}

				const after = await restartAndRejoin(pages, before, d => d.state === 'registered', ctx);
				for (const [i, [me, other]] of [[alice, bob], [bob, alice]].entries()) {
					assert.equal(after[i].username, me, 'the same name');
					assert.equal(after[i].lostCall, other);
					assert.match(await pages[i].textContent('#status'),
						new RegExp(`Registered again as ${me}.*call with ${other} ended`));
					assert.equal(await pages[i].isEnabled('#call'), true);
				}
				// Nobody calls by itself.
				await a.waitForTimeout(2000);
				for (const p of pages)
					assert.equal((await p.evaluate(state)).state, 'registered');
				// The caller's field still names the callee: calling again works.
				assert.equal(await a.inputValue('#peer'), bob);
				await call(a, b, ctx);
				assert.deepEqual(consoleErrors(logs), [], 'console errors');
			} finally {
				for (const p of pages)
					await p.close().catch(() => {});
			}
		});
}

test('the daemon still exits with status 0 on SIGTERM', CASE, async () => {
	await env.browser.close();
	env.browser = null;
	await assertCleanExit(env.gw);
});
