// The broadcast page (html/broadcast.html) in headless Chromium: a presenter
// shares an animated canvas (source=canvas stands in for getDisplayMedia)
// on the `demo` channel and five viewer pages decode it; the presenter's
// page shows five viewers. Then a second presenter takes the channel over:
// the first one is told, and every viewer keeps decoding on the
// PeerConnection it has (no new negotiation).
//
// cardea.plugin.broadcast has no Janus counterpart: this file only runs
// against Cardea.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, installedPluginSo, REPO, TARGET } from './lib/gateway.mjs';
import { launchChromium, recordConsole } from './lib/browser.mjs';

const CASE = { timeout: 120000, skip: TARGET === 'janus' ? 'no Janus counterpart' : false };
const START_MS = 20000;
const DECODE_MS = 30000;
const VIEWERS = 5;

let gw, browser;

before(async () => {
	if (TARGET === 'janus')
		return;
	gw = await startGateway({
		plugins: [installedPluginSo('broadcast')],
		pluginConfigs: { broadcast: { general: {}, demo: { description: 'Demo channel' } } },
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

async function poll(page, fn, ok, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await page.evaluate(fn);
		if (ok(value) || Date.now() > deadline)
			return value;
		await page.waitForTimeout(250);
	}
}

const state = () => ({ state: window.cardeaDemo.state, error: window.cardeaDemo.error,
	viewers: window.cardeaDemo.viewers, presenter: window.cardeaDemo.presenter });
const decoded = async () => Object.values(await window.cardeaDemo.videoStats())
	.reduce((n, x) => n + x.framesDecoded, 0);

test(`a Chromium presenter reaches ${VIEWERS} Chromium viewers, and a takeover keeps them watching`, CASE, async () => {
	const pages = [], logs = [];
	const open = async q => {
		const page = await browser.newPage();
		pages.push(page);
		logs.push(recordConsole(page));
		await page.goto(`${gw.httpUrl}/broadcast.html?${new URLSearchParams({ ws: gw.wsUrl, transport: 'ws', channel: 'demo', autostart: '1', ...q })}`);
		return page;
	};
	const context = () => `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${gw.logTail(30)}`;
	try {
		const presenter = await open({ role: 'present', source: 'canvas' });
		let s = await poll(presenter, state, d => d.state === 'presenting' || d.error, START_MS);
		assert.equal(s.state, 'presenting', `presenter: ${JSON.stringify(s)}${context()}`);
		assert.match(await presenter.getAttribute('#share-link', 'href'), /[?&]role=watch(&|$)/);

		const viewers = [];
		for (let n = 0; n < VIEWERS; n++)
			viewers.push(await open({ role: 'watch' }));
		for (const [i, v] of viewers.entries()) {
			s = await poll(v, state, d => d.state === 'watching' || d.error, START_MS);
			assert.equal(s.state, 'watching', `viewer ${i + 1}: ${JSON.stringify(s)}${context()}`);
			const n = await poll(v, decoded, x => x > 0, DECODE_MS);
			assert.ok(n > 0, `viewer ${i + 1} decoded nothing${context()}`);
		}
		s = await poll(presenter, state, d => d.viewers === VIEWERS, 10000);
		assert.equal(s.viewers, VIEWERS, `presenter's viewer count: ${JSON.stringify(s)}`);
		assert.equal(await presenter.textContent('#viewers'), String(VIEWERS));

		// A second presenter takes over; viewers go on on the same PeerConnection.
		const second = await open({ role: 'present', source: 'canvas' });
		s = await poll(second, state, d => d.state === 'presenting' || d.error, START_MS);
		assert.equal(s.state, 'presenting', `second presenter: ${JSON.stringify(s)}${context()}`);
		assert.equal(s.viewers, VIEWERS);
		s = await poll(presenter, state, d => d.state === 'stopped', 10000);
		assert.equal(s.state, 'stopped', `first presenter after the takeover: ${JSON.stringify(s)}`);
		// Counted once the first presenter's PeerConnection is closed: what
		// decodes from here on comes from the second one.
		const before = await Promise.all(viewers.map(v => v.evaluate(decoded)));
		for (const [i, v] of viewers.entries()) {
			s = await poll(v, state, d => d.presenter === 'changed', 10000);
			assert.equal(s.presenter, 'changed', `viewer ${i + 1}: ${JSON.stringify(s)}`);
			// well past what the first presenter could still have had in flight
			const n = await poll(v, decoded, x => x > before[i] + 30, DECODE_MS);
			assert.ok(n > before[i] + 30, `viewer ${i + 1} stopped decoding after the takeover (${before[i]} -> ${n})${context()}`);
			assert.equal(await v.evaluate(() => window.cardeaDemo.state), 'watching');
		}
		assert.deepEqual(logs.flat().filter(l => /^(error|pageerror)/.test(l)), [], 'console errors');
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});
