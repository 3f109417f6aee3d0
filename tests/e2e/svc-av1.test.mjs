// AV1 SVC in the video room, in headless Chromium: a publisher sends one AV1
// stream with spatial and temporal layers (scalabilityMode L3T3, or L1T3
// when the browser cannot encode L3T3) into a room with video_svc. The
// gateway accepts the AV1 Dependency Descriptor header extension from the
// publisher, picks layers from it, and offers it to the subscriber, whose
// AV1 depacketizer needs it. The subscriber configures spatial_layer and
// temporal_layer down and up: what its browser decodes (getStats
// inbound-rtp frameWidth and framesPerSecond) must follow while frames keep
// being decoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo } from './lib/gateway.mjs';
import { demoEnv, pollPage as poll } from './lib/demo.mjs';
import { openPage as open, context as ctx, lastLayers } from './lib/svc-page.mjs';

const CASE = { timeout: 240000 };
const STEP_MS = 45000;
const DD_URI = 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension';

const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });
const openPage = logs => open(env, logs);
const context = logs => ctx(env, logs);

// Polls the decoded frame rate (1 s windows) until `ok`.
async function pollRate(page, ok, ms) {
	const end = Date.now() + ms;
	let s;
	do {
		s = await page.evaluate(() => window.svc.rate(1000));
		if (ok(s))
			return s;
	} while (Date.now() < end);
	return s;
}

test('AV1 SVC: spatial_layer and temporal_layer follow configure, from the Dependency Descriptor', CASE, async () => {
	const logs = [], pages = [];
	const room = 100000 + Math.floor(Math.random() * 800000000);
	try {
		const pub = await openPage(logs);
		pages.push(pub);
		assert.ok(await pub.evaluate(() => window.svc.hasCodec('av1')), 'this Chromium has no AV1 encoder');
		const created = await pub.evaluate(r => window.svc.createRoom(r, 'av1', 2000000), room);
		assert.equal(created?.videoroom, 'created', JSON.stringify(created));
		// 1280x720: at 640x360 Chromium drops L3T3 to L2T3 (layers too small).
		const feed = await pub.evaluate(r => window.svc.publish(r, { codec: 'av1', mode: 'L3T3', fallbackMode: 'L1T3',
			width: 1280, height: 720, fps: 15, maxBitrate: 1500000 }), room);
		const asked = await pub.evaluate(() => window.svc.mode);
		if (asked !== 'L3T3')
			console.log(`# L3T3 refused (${await pub.evaluate(() => window.svc.refused)}): L1T3, temporal layers only`);
		// The gateway took the DD from the publisher.
		assert.ok((await pub.evaluate(() => window.svc.pubAnswer)).includes(DD_URI), 'the publisher answer accepts the DD');
		const viewer = await openPage(logs);
		pages.push(viewer);
		const mid = await viewer.evaluate(([r, f]) => window.svc.subscribe(r, f), [room, feed]);
		assert.equal(await viewer.evaluate(() => window.svc.codec), 'av1');
		assert.ok((await viewer.evaluate(() => window.svc.subOffer)).includes(DD_URI), 'the subscriber offer has the DD');
		const sender = async () => JSON.stringify(await pub.evaluate(() => window.svc.outbound()));
		// What the encoder settled on (Chromium drops spatial layers that
		// would be too small): LnT3.
		const out = await poll(pub, () => window.svc.outbound(), o => o[0]?.framesSent > 10, STEP_MS);
		const mode = out[0]?.scalabilityMode || '';
		assert.match(mode, /^L[1-3]T3$/, `the publisher sends an LnT3 mode: ${await sender()}`);
		const layers = Number(mode[1]);
		const spatial = layers > 1;
		console.log(`# publisher: ${mode} (${out[0].encoder})`);

		// Everything first: the top layer, at the full rate.
		let s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth >= 1200 && st.framesDecoded > 20, STEP_MS);
		assert.ok(s.frameWidth >= 1200, `full picture never arrived: ${JSON.stringify(s)}, sender: ${await sender()}${context(logs)}`);
		const full = s.frameWidth;
		let r = await pollRate(viewer, x => x.rate >= 10, 15000);
		const fullRate = r.rate;
		assert.ok(fullRate >= 10, `full rate ${JSON.stringify(r)}, sender: ${await sender()}`);

		if (spatial) {
			const conf = await viewer.evaluate(m => window.svc.configure({ streams: [{ mid: m, spatial_layer: 0 }] }), mid);
			assert.equal(conf.configured, 'ok', JSON.stringify(conf));
			// Each spatial layer halves the width.
			const lowMax = full / (1 << (layers - 1)) * 1.2;
			s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth > 0 && st.frameWidth <= lowMax, STEP_MS);
			assert.ok(s.frameWidth > 0 && s.frameWidth <= lowMax, `spatial layer 0: ${JSON.stringify(s)} (full ${full})${context(logs)}`);
			const ev = await poll(viewer, lastLayers, l => l.spatial === 0, 5000);
			assert.equal(ev.spatial, 0, `no spatial_layer event: ${JSON.stringify(ev)}`);
			const before = s.framesDecoded;
			s = await poll(viewer, () => window.svc.stats(), st => st.framesDecoded > before + 10, 10000);
			assert.ok(s.framesDecoded > before + 10, `low layer stalled at ${s.framesDecoded}`);
		}

		// Temporal layer 0: a quarter of the frames (T0 of a 3-layer pattern).
		let conf = await viewer.evaluate(m => window.svc.configure({ streams: [{ mid: m, temporal_layer: 0 }] }), mid);
		assert.equal(conf.configured, 'ok', JSON.stringify(conf));
		r = await pollRate(viewer, x => x.rate > 0 && x.rate <= fullRate * 0.6, 20000);
		assert.ok(r.rate > 0 && r.rate <= fullRate * 0.6, `temporal layer 0: ${JSON.stringify(r)} (full ${fullRate}/s)${context(logs)}`);
		const t0 = await poll(viewer, lastLayers, l => l.temporal === 0, 5000);
		assert.equal(t0.temporal, 0, `no temporal_layer event: ${JSON.stringify(t0)}`);

		// Back up in time, then in space (a keyframe the gateway asks for).
		conf = await viewer.evaluate(m => window.svc.configure({ streams: [{ mid: m, temporal_layer: 2 }] }), mid);
		assert.equal(conf.configured, 'ok', JSON.stringify(conf));
		r = await pollRate(viewer, x => x.rate >= fullRate * 0.75, 20000);
		assert.ok(r.rate >= fullRate * 0.75, `temporal layer 2: ${JSON.stringify(r)} (full ${fullRate}/s)`);
		if (spatial) {
			await viewer.evaluate(([m, l]) => window.svc.configure({ streams: [{ mid: m, spatial_layer: l }] }), [mid, layers - 1]);
			s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth >= full * 0.9, STEP_MS);
			assert.ok(s.frameWidth >= full * 0.9, `back to spatial layer 2: ${JSON.stringify(s)}, sender: ${await sender()}${context(logs)}`);
			const up = await poll(viewer, lastLayers, l => l.spatial === layers - 1, 5000);
			assert.equal(up.spatial, layers - 1);
		}
		const last = await viewer.evaluate(() => window.svc.stats());
		r = await pollRate(viewer, x => x.rate > 5, 10000);
		assert.ok(r.framesDecoded > last.framesDecoded, 'still decoding at the end');
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});
