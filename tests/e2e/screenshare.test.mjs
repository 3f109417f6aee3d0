// The screen sharing page (html/screenshare.html) in headless Chromium: a
// presenter shares an animated 1280x720 canvas (source=canvas, the page's
// stand-in for getDisplayMedia) into a room it creates, and three viewer
// pages find the presenter and decode the screen at its size. Stopping the
// presenter returns the viewers to "waiting".
//
//   CARDEA_TEST_TARGET=janus node --test screenshare.test.mjs   # against Janus 1.1.2
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo, assertCleanExit } from './lib/gateway.mjs';
import { recordConsole } from './lib/browser.mjs';
import { demoEnv, pollPage as poll } from './lib/demo.mjs';

const CASE = { timeout: 90000 };
const START_MS = 20000;
const DECODE_MS = 30000;

// No static rooms: every case creates its own through the page.
const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });

const state = () => ({ state: window.cardeaDemo.state, error: window.cardeaDemo.error,
	presenter: window.cardeaDemo.presenter });
const screenStats = () => window.cardeaDemo.videoStats();

test('a presented screen reaches three viewers', CASE, async () => {
	const room = String(100000 + Math.floor(Math.random() * 800000000));
	const pages = [], logs = [];
	const open = async q => {
		const page = await env.browser.newPage();
		pages.push(page);
		logs.push(recordConsole(page));
		await page.goto(`${env.gw.httpUrl}/screenshare.html?${new URLSearchParams({ ws: env.gw.wsUrl, transport: 'ws', room, autostart: '1', ...q })}`);
		return page;
	};
	const context = () => `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${env.gw.logTail(30)}`;
	try {
		const presenter = await open({ role: 'present', source: 'canvas', display: 'Pat' });
		let s = await poll(presenter, state, d => d.state === 'presenting' || d.error, START_MS);
		assert.equal(s.state, 'presenting', `presenter: ${JSON.stringify(s)}${context()}`);
		const link = await presenter.getAttribute('#share-link', 'href');
		assert.match(link, new RegExp(`[?&]room=${room}(&|$)`));
		assert.match(link, /[?&]role=watch(&|$)/);

		const viewers = [];
		for (const n of [1, 2, 3])
			viewers.push(await open({ role: 'watch', display: `v${n}` }));
		for (const [i, v] of viewers.entries()) {
			s = await poll(v, state, d => d.state === 'watching' || d.error, START_MS);
			assert.equal(s.state, 'watching', `viewer ${i + 1}: ${JSON.stringify(s)}${context()}`);
			assert.equal(s.presenter.display, 'Pat');
			const stats = await poll(v, screenStats, st => Object.values(st).some(x => x.framesDecoded > 0 && x.frameWidth > 0), DECODE_MS);
			const video = Object.values(stats).find(x => x.framesDecoded > 0);
			assert.ok(video, `viewer ${i + 1} decoded nothing: ${JSON.stringify(stats)}${context()}`);
			// The canvas is 16:9; the encoder may scale it down under load, never distort it.
			assert.ok(Math.abs(video.frameWidth / video.frameHeight - 16 / 9) < 0.05, `aspect ${video.frameWidth}x${video.frameHeight}`);
			assert.match(await v.textContent('#caption'), /Pat's screen/);
		}

		// The presenter stops: every viewer goes back to waiting.
		await presenter.click('#stop');
		for (const [i, v] of viewers.entries()) {
			s = await poll(v, state, d => d.state === 'waiting', 15000);
			assert.equal(s.state, 'waiting', `viewer ${i + 1} after the presenter left: ${JSON.stringify(s)}${context()}`);
		}
		assert.deepEqual(logs.flat().filter(l => /^(error|pageerror)/.test(l)), [], 'console errors');
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});

test('the daemon exits with status 0 on SIGTERM', CASE, async () => {
	await env.browser.close();
	env.browser = null;
	await assertCleanExit(env.gw);
});
