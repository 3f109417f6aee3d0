// The video room demo page (html/videoroom.html) in headless Chromium against
// janus.plugin.videoroom: several pages (tabs of one browser) join a room
// created by the page itself, and every assertion is about what the
// receiving browser decoded (getStats: framesDecoded, frameWidth).
//
//   CARDEA_TEST_TARGET=janus node --test videoroom.test.mjs   # the same against Janus 1.1.2
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo, assertCleanExit } from './lib/gateway.mjs';
import { recordConsole } from './lib/browser.mjs';
import { demoEnv, keepPageSockets, pollPage as poll } from './lib/demo.mjs';

const CASE = { timeout: 90000 };
const JOIN_MS = 20000;
const DECODE_MS = 30000;

// No static rooms: every case creates its own through the page.
const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });

const randomRoom = () => 100000 + Math.floor(Math.random() * 800000000);

const demoState = () => {
	const d = window.cardeaDemo;
	return { state: d.state, myId: d.myId, error: d.error, published: d.published, feeds: d.feeds,
		remote: d.remote, layers: d.layers, transport: d.transport };
};
const videoStats = () => window.cardeaDemo.videoStats();

// Opens videoroom.html with the query and waits until joined.
async function openRoomPage(query, pages, logs) {
	const page = await env.browser.newPage();
	await keepPageSockets(page);
	pages.push(page);
	logs.push(recordConsole(page));
	const q = new URLSearchParams({ ws: env.gw.wsUrl, transport: 'ws', autojoin: '1', ...query });
	await page.goto(`${env.gw.httpUrl}/videoroom.html?${q}`);
	const d = await poll(page, demoState, s => s.state === 'joined' || s.error, JOIN_MS);
	assert.equal(d.error, null, `${query.display}: ${d.error}`);
	assert.equal(d.state, 'joined', `${query.display} did not join`);
	return page;
}

function context(logs) {
	return `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${env.gw.logTail(40)}`;
}

// A case in a fresh room: the pages it opens are closed however it ends.
function roomTest(name, opts, body) {
	test(name, { ...CASE, ...opts }, async () => {
		const ctx = { room: String(randomRoom()), pages: [], logs: [] };
		try {
			await body(ctx);
		} finally {
			for (const p of ctx.pages)
				await p.close().catch(() => {});
		}
	});
}

// Waits until the page decodes video on `count` different subscriber mids.
async function waitDecoding(page, count, what, logs) {
	const stats = await poll(page, videoStats,
		s => Object.values(s).filter(v => v.framesDecoded > 0).length >= count, DECODE_MS);
	const decoding = Object.values(stats).filter(v => v.framesDecoded > 0).length;
	assert.ok(decoding >= count, `${what}: ${decoding} decoding video streams, wanted ${count}: ${JSON.stringify(stats)}${context(logs)}`);
	return stats;
}

roomTest('one publisher, three subscribers decode its video', {}, async ({ room, pages, logs }) => {
	const pubPage = await openRoomPage({ room, display: 'pub' }, pages, logs);
	await poll(pubPage, demoState, d => d.published, JOIN_MS);
	const viewers = [];
	// The third viewer talks to the gateway over HTTP long poll.
	for (const n of [1, 2, 3])
		viewers.push(await openRoomPage({ room, display: `viewer${n}`, publish: '0', ...(n === 3 && { transport: 'http' }) }, pages, logs));
	assert.equal((await viewers[2].evaluate(demoState)).transport, 'http');
	for (const [i, v] of viewers.entries()) {
		const first = await waitDecoding(v, 1, `viewer${i + 1}`, logs);
		const d = await v.evaluate(demoState);
		assert.deepEqual(Object.values(d.feeds).map(f => f.display), ['pub']);
		assert.ok(Object.values(d.remote).some(r => r.display === 'pub' && r.type === 'video'));
		// Still flowing a moment later.
		await v.waitForTimeout(1000);
		const second = await v.evaluate(videoStats);
		const mid = Object.keys(first).find(m => first[m].framesDecoded > 0);
		assert.ok(second[mid].framesDecoded > first[mid].framesDecoded, `viewer${i + 1} stalled`);
	}
	// The publisher sees nobody publishing (viewers only listen).
	assert.deepEqual((await pubPage.evaluate(demoState)).feeds, {});
});

// Asks for a layer and waits for ok(videoStats); the request is repeated
// every few seconds, as a layer switch waits for a keyframe of the new layer
// and a loaded sender may pause the upper layers for a moment.
async function switchUntil(page, mid, substream, ok) {
	const deadline = Date.now() + DECODE_MS;
	let stats;
	do {
		await page.evaluate(([m, n]) => window.cardeaDemo.setSubstream(m, n), [mid, substream]);
		stats = await poll(page, videoStats, ok, Math.min(5000, deadline - Date.now()));
	} while (!ok(stats) && Date.now() < deadline);
	return stats;
}

roomTest('simulcast: switching the subscriber to the low layer and back changes the picture size', {}, async ({ room, pages, logs }) => {
	const pubPage = await openRoomPage({ room, display: 'sim', simulcast: '1' }, pages, logs);
	await poll(pubPage, demoState, d => d.published, JOIN_MS);
	const viewer = await openRoomPage({ room, display: 'watcher', publish: '0' }, pages, logs);
	await waitDecoding(viewer, 1, 'watcher', logs);
	const d = await viewer.evaluate(demoState);
	const mid = Object.keys(d.remote).find(m => d.remote[m].type === 'video');
	const width = () => window.cardeaDemo.videoStats();
	// The high layer needs the sender's bandwidth estimate to ramp up; on
	// a loaded machine Chromium may also shrink the capture, so "high" is
	// whatever arrives at >= 640 px, and every step is relative to it.
	let s = await switchUntil(viewer, mid, 2, st => st[mid]?.frameWidth >= 640);
	const high = s[mid].frameWidth;
	assert.ok(high >= 640, `high layer never arrived: ${JSON.stringify(s)}, sender: ` +
		`${JSON.stringify(await pubPage.evaluate(() => window.cardeaDemo.outboundVideo()))}${context(logs)}`);

	await viewer.evaluate(m => window.cardeaDemo.setSubstream(m, 0), mid);
	s = await poll(viewer, width, st => st[mid]?.frameWidth > 0 && st[mid].frameWidth <= high / 2, DECODE_MS);
	const low = s[mid].frameWidth;
	assert.ok(low > 0 && low <= high / 2, `low layer: width ${low} (high was ${high})${context(logs)}`);
	const layers = await poll(viewer, demoState, st => st.layers[mid]?.substream === 0, 5000);
	assert.equal(layers.layers[mid]?.substream, 0, `no substream event: ${JSON.stringify(layers.layers)}`);

	s = await switchUntil(viewer, mid, 2, st => st[mid]?.frameWidth >= 2 * low);
	assert.ok(s[mid].frameWidth >= 2 * low, `back up from ${low}: ${JSON.stringify(s)}, sender: ` +
		`${JSON.stringify(await pubPage.evaluate(() => window.cardeaDemo.outboundVideo()))}${context(logs)}`);
});

roomTest('the demo page: two participants see each other, a leave removes the tile', {}, async ({ room, pages, logs }) => {
	const a = await openRoomPage({ room, display: 'Ann' }, pages, logs);
	const b = await openRoomPage({ room, display: 'Bob' }, pages, logs);
	await waitDecoding(a, 1, 'Ann', logs);
	await waitDecoding(b, 1, 'Bob', logs);
	// Each tile is captioned with the other's name.
	await a.locator('#tiles figure:not(#tile-local) figcaption', { hasText: 'Bob' }).waitFor({ timeout: 5000 });
	await b.locator('#tiles figure:not(#tile-local) figcaption', { hasText: 'Ann' }).waitFor({ timeout: 5000 });
	const da = await a.evaluate(demoState);
	assert.equal(da.transport, 'websocket');
	assert.deepEqual(Object.values(da.feeds).map(f => f.display), ['Bob']);
	assert.equal(await a.locator('#tiles figure:not(#tile-local)').count(), 1);

	// Bob leaves: Ann's page drops his feed and his tile.
	await b.click('#leave');
	const after = await poll(a, demoState, d => Object.keys(d.feeds).length === 0 &&
		Object.keys(d.remote).length === 0, 15000);
	assert.deepEqual(after.feeds, {}, `Ann still lists ${JSON.stringify(after.feeds)}${context(logs)}`);
	assert.deepEqual(after.remote, {}, `Ann still receives ${JSON.stringify(after.remote)}${context(logs)}`);
	await a.locator('#tiles figure:not(#tile-local)').waitFor({ state: 'detached', timeout: 5000 });
	// Bob's page says 'left' once its leave and destroy have been answered,
	// which can come after Ann already saw him go (seen under ASan).
	const bobAfter = await poll(b, demoState, d => d.state === 'left', 10000);
	assert.equal(bobAfter.state, 'left');
	const errors = logs.flat().filter(l => /^(error|pageerror)/.test(l));
	assert.deepEqual(errors, [], 'console errors');
});

roomTest('the demo page: stopping the camera stops the relay, starting it resumes', {}, async ({ room, pages, logs }) => {
	const a = await openRoomPage({ room, display: 'Ann', publish: '0' }, pages, logs);
	const b = await openRoomPage({ room, display: 'Bob' }, pages, logs);
	await waitDecoding(a, 1, 'Ann', logs);
	const da = await a.evaluate(demoState);
	// Bob stops his camera: the gateway stops relaying it (configure
	// send: false), so Ann's decoder stalls; starting it again resumes.
	const bobMid = Object.keys(da.remote).find(m => da.remote[m].type === 'video');
	const frames = async () => (await a.evaluate(videoStats))[bobMid]?.framesDecoded ?? 0;
	await b.click('#mute-video');
	assert.equal(await b.textContent('#mute-video'), 'Start camera');
	await a.waitForTimeout(1500);
	const stalled = await frames();
	await a.waitForTimeout(2000);
	assert.ok(await frames() - stalled <= 1, `Bob's video still flows while stopped: ${stalled} -> ${await frames()}`);
	await b.click('#mute-video');
	const resumed = await poll(a, videoStats, st => st[bobMid]?.framesDecoded > stalled + 5, DECODE_MS);
	assert.ok(resumed[bobMid]?.framesDecoded > stalled + 5, `Bob's video did not resume: ${JSON.stringify(resumed)}${context(logs)}`);

});

roomTest('the demo page: a shared screen is a second video stream for the others', {}, async ({ room, pages, logs }) => {
	const a = await openRoomPage({ room, display: 'Ann' }, pages, logs);
	const b = await openRoomPage({ room, display: 'Bob' }, pages, logs);
	await waitDecoding(b, 1, 'Bob', logs);
	await poll(a, demoState, d => d.published, JOIN_MS);
	// Headless Chromium with --use-fake-ui-for-media-stream accepts
	// getDisplayMedia without a picker.
	await a.click('#screen');
	await poll(a, () => window.cardeaDemo.screen, v => v, JOIN_MS);
	const isScreen = d => Object.keys(d.remote).find(m => d.remote[m].description === 'screen');
	const d = await poll(b, demoState, isScreen, DECODE_MS);
	const screenMid = isScreen(d);
	assert.ok(screenMid, `Bob has no screen stream: ${JSON.stringify(d.remote)}${context(logs)}`);
	const stats = await poll(b, videoStats, st => st[screenMid]?.framesDecoded > 0, DECODE_MS);
	assert.ok(stats[screenMid]?.framesDecoded > 0, `screen not decoded: ${JSON.stringify(stats)}${context(logs)}`);
	assert.equal(Object.values(stats).filter(v => v.framesDecoded > 0).length, 2, 'camera and screen both decode');
	await b.locator(`#tile-${screenMid} figcaption`, { hasText: 'Ann (screen)' }).waitFor({ timeout: 5000 });

	// Stop sharing: the screen stream goes away, the camera stays.
	await a.click('#screen');
	const after = await poll(b, demoState, s => !isScreen(s), 15000);
	assert.equal(isScreen(after), undefined, `screen still listed: ${JSON.stringify(after.remote)}${context(logs)}`);
	assert.ok(Object.values(after.remote).some(r => r.type === 'video' && r.display === 'Ann'), 'camera still received');
});

roomTest('the demo page rejoins after its WebSocket drops', {}, async ({ room, pages, logs }) => {
	const a = await openRoomPage({ room, display: 'Ann' }, pages, logs);
	const b = await openRoomPage({ room, display: 'Bob' }, pages, logs);
	await waitDecoding(b, 1, 'Bob', logs);
	const firstId = (await a.evaluate(demoState)).myId;

	await a.evaluate(() => window.openSockets.forEach(ws => ws.close()));
	const lost = await poll(a, demoState, d => d.state === 'reconnecting', 5000);
	assert.equal(lost.state, 'reconnecting');
	assert.match(await a.textContent('#status'), /lost/i);

	const back = await poll(a, demoState, d => d.state === 'joined' && d.published, JOIN_MS);
	assert.equal(back.state, 'joined', `Ann did not rejoin: ${JSON.stringify(back)}${context(logs)}`);
	assert.notEqual(back.myId, firstId, 'a rejoin is a new participant');
	assert.equal(await a.evaluate(() => window.cardeaDemo.reconnects), 1);
	// Both directions work again: Bob gets Ann's new feed, Ann gets Bob.
	await poll(b, demoState, d => d.feeds[back.myId] !== undefined && d.feeds[firstId] === undefined, 15000);
	const annVideo = d => Object.values(d.remote).some(r => r.feed === back.myId && r.type === 'video');
	const bob = await poll(b, demoState, annVideo, DECODE_MS);
	assert.ok(bob.feeds[back.myId] && !bob.feeds[firstId], `Bob's feeds: ${JSON.stringify(bob.feeds)}${context(logs)}`);
	const annMid = Object.keys(bob.remote).find(m => bob.remote[m].feed === back.myId && bob.remote[m].type === 'video');
	assert.ok(annMid, `Bob does not receive Ann's new feed: ${JSON.stringify(bob.remote)}${context(logs)}`);
	const st = await poll(b, videoStats, s => s[annMid]?.framesDecoded > 0, DECODE_MS);
	assert.ok(st[annMid]?.framesDecoded > 0, `Bob decodes nothing of Ann's new feed: ${JSON.stringify(st)}${context(logs)}`);
	await waitDecoding(a, 1, 'Ann after the rejoin', logs);
});

test('the index page links the room demos', CASE, async () => {
	const page = await env.browser.newPage();
	try {
		const q = `?ws=${encodeURIComponent(env.gw.wsUrl)}`;
		await page.goto(`${env.gw.httpUrl}/index.html${q}`);
		for (const demo of ['videoroom.html', 'screenshare.html']) {
			const link = page.locator(`#demos a[href^="${demo}"]`);
			await link.waitFor({ timeout: 10000 });
			assert.equal(await link.getAttribute('href'), `${demo}${q}`);
		}
	} finally {
		await page.close();
	}
});

test('the daemon exits with status 0 on SIGTERM', CASE, async () => {
	await env.browser.close();
	env.browser = null;
	await assertCleanExit(env.gw);
});
