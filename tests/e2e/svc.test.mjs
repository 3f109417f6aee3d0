// VP9 SVC in the video room, in headless Chromium: a publisher sends one VP9
// stream with three spatial and three temporal layers (scalabilityMode
// L3T3_KEY) into a room with video_svc; a subscriber asks for spatial_layer 0
// and then 2 with `configure`, and what its browser decodes (getStats
// inbound-rtp frameWidth) must shrink to about a quarter and grow back.
// The pages drive the Janus API through html/cardea.js and html/rtc.js.
//
// Against Janus 1.1.2 (CARDEA_TEST_TARGET=janus) the subscriber keeps getting
// the full picture after spatial_layer 0 in this setup (not investigated yet),
// so this file is Cardea-only for now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo } from './lib/gateway.mjs';
import { demoEnv, pollPage as poll } from './lib/demo.mjs';
import { openPage as open, context as ctx, lastLayers } from './lib/svc-page.mjs';

const CASE = { timeout: 120000 };
const STEP_MS = 40000;

const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });
const openPage = logs => open(env, logs);
const context = logs => ctx(env, logs);

test('VP9 SVC: spatial_layer 0 shrinks the decoded picture to a quarter, 2 brings it back', CASE, async () => {
	const logs = [], pages = [];
	const room = 100000 + Math.floor(Math.random() * 800000000);
	try {
		const pub = await openPage(logs);
		pages.push(pub);
		const created = await pub.evaluate(r => window.svc.createRoom(r, 'vp9', 3000000), room);
		assert.equal(created?.videoroom, 'created', JSON.stringify(created));
		const feed = await pub.evaluate(r => window.svc.publish(r, { codec: 'vp9', mode: 'L3T3_KEY', width: 1280, height: 720,
			fps: 15, maxBitrate: 2500000 }), room);
		const viewer = await openPage(logs);
		pages.push(viewer);
		const mid = await viewer.evaluate(([r, f]) => window.svc.subscribe(r, f), [room, feed]);
		assert.equal(await viewer.evaluate(() => window.svc.codec), 'vp9');
		const sender = async () => JSON.stringify(await pub.evaluate(() => window.svc.outbound()));
		// getStats reports scalabilityMode only once the encoder produced frames.
		await poll(pub, () => window.svc.outbound(), o => o[0]?.framesSent > 10, STEP_MS);
		assert.match(await sender(), /L3T3_KEY/, 'the publisher sends L3T3_KEY');

		// Full picture first: the sender ramps its three layers up (a 1280
		// wide capture: the top layer is >= 960 px once all three are on).
		let s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth >= 960, STEP_MS);
		const full = s.frameWidth;
		assert.ok(full >= 960, `full layer never arrived: ${JSON.stringify(s)}, sender: ${await sender()}${context(logs)}`);

		const conf = await viewer.evaluate(m => window.svc.configure({ streams: [{ mid: m, spatial_layer: 0, temporal_layer: 2 }] }), mid);
		assert.equal(conf.configured, 'ok', JSON.stringify(conf));
		s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth > 0 && st.frameWidth <= full / 3, STEP_MS);
		const low = s.frameWidth;
		assert.ok(low > 0 && low <= full / 3, `spatial layer 0: width ${low} (full ${full})${context(logs)}`);
		assert.ok(low >= full / 5, `spatial layer 0 is a quarter: ${low} of ${full}`);
		const ev = await poll(viewer, lastLayers, l => l.spatial === 0, 5000);
		assert.equal(ev.spatial, 0, `no spatial_layer event: ${JSON.stringify(ev)}`);
		// Still decoding on the low layer.
		const before = s.framesDecoded;
		s = await poll(viewer, () => window.svc.stats(), st => st.framesDecoded > before + 10, 10000);
		assert.ok(s.framesDecoded > before + 10, `low layer stalled at ${s.framesDecoded}`);

		// Legacy top-level form back to the top layer (switches at a keyframe,
		// which the gateway asks the publisher for).
		await viewer.evaluate(() => window.svc.configure({ spatial_layer: 2 }));
		s = await poll(viewer, () => window.svc.stats(), st => st.frameWidth >= full * 0.9, STEP_MS);
		assert.ok(s.frameWidth >= full * 0.9, `back to spatial layer 2: ${JSON.stringify(s)}, sender: ${await sender()}${context(logs)}`);
		const up = await poll(viewer, lastLayers, l => l.spatial === 2, 5000);
		assert.equal(up.spatial, 2);

		// A wrong type is refused.
		const bad = await viewer.evaluate(m => window.svc.configure({ streams: [{ mid: m, spatial_layer: 'x' }] }), mid);
		assert.equal(bad.error_code, 430, JSON.stringify(bad));
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});
