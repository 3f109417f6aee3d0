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
import { recordConsole } from './lib/browser.mjs';
import { demoEnv, pollPage as poll } from './lib/demo.mjs';

const CASE = { timeout: 120000 };
const STEP_MS = 40000;

const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });

// Runs in the page: sets up window.svc with a publisher or subscriber.
async function pageSetup(ws) {
	const { connect } = await import('/cardea.js');
	const { Peer, pluginData, inboundVideoByMid } = await import('/rtc.js');
	const gw = await connect({ ws, transport: 'ws' });
	const session = await gw.createSession();
	const svc = window.svc = { events: [], error: null };
	const attach = async () => {
		const h = await session.attach('janus.plugin.videoroom');
		h.on('event', msg => svc.events.push(pluginData(msg)));
		return h;
	};
	const nextEvent = (h, ok) => h.once('event', msg => ok(pluginData(msg)), 20000).then(pluginData);
	svc.createRoom = async room => {
		const h = await attach();
		const reply = await h.message({ request: 'create', room, permanent: false, publishers: 4,
			videocodec: 'vp9', video_svc: true, bitrate: 3000000 });
		return reply.plugindata?.data;
	};
	svc.publish = async room => {
		const h = await attach();
		const peer = svc.peer = new Peer(h);
		const joined = nextEvent(h, d => d.data.videoroom === 'joined' || d.data.error);
		await h.message({ request: 'join', ptype: 'publisher', room, display: 'svc' });
		const j = await joined;
		if (j.data.error)
			throw new Error(j.data.error);
		svc.feed = j.data.id;
		const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 15 } });
		const track = stream.getVideoTracks()[0];
		const tr = peer.pc.addTransceiver(track, { direction: 'sendonly',
			sendEncodings: [{ scalabilityMode: 'L3T3_KEY', maxBitrate: 2500000 }] });
		const vp9 = RTCRtpSender.getCapabilities('video').codecs.filter(c => /vp9/i.test(c.mimeType));
		tr.setCodecPreferences(vp9);
		// Keep the resolution when the machine is loaded: the layers are what is tested.
		const params = tr.sender.getParameters();
		params.degradationPreference = 'maintain-resolution';
		await tr.sender.setParameters(params).catch(() => {});
		const answered = nextEvent(h, d => d.jsep || d.data.error);
		await peer.offer({ request: 'configure', audio: false, video: true });
		const a = await answered;
		if (!a.jsep)
			throw new Error(a.data.error || 'no answer');
		await peer.pc.setRemoteDescription(a.jsep);
		return svc.feed;
	};
	svc.outbound = async () => {
		const out = [];
		(await svc.peer?.pc.getStats())?.forEach(r => {
			if (r.type === 'outbound-rtp' && r.kind === 'video')
				out.push({ frameWidth: r.frameWidth, framesSent: r.framesSent, scalabilityMode: r.scalabilityMode,
					encoder: r.encoderImplementation, limitation: r.qualityLimitationReason, bytesSent: r.bytesSent });
		});
		return out;
	};
	svc.subscribe = async (room, feed) => {
		const h = svc.sub = await attach();
		const peer = svc.peer = new Peer(h);
		const offered = nextEvent(h, d => d.jsep || d.data.error);
		await h.message({ request: 'join', ptype: 'subscriber', room, streams: [{ feed }] });
		const o = await offered;
		if (!o.jsep)
			throw new Error(o.data.error || 'no offer');
		svc.mid = o.data.streams.find(s => s.type === 'video').mid;
		svc.codec = o.data.streams.find(s => s.type === 'video').codec;
		await peer.answer(o.jsep, { request: 'start' });
		return svc.mid;
	};
	svc.configure = async body => {
		const reply = nextEvent(svc.sub, d => d.data.configured || d.data.error);
		await svc.sub.message({ request: 'configure', ...body });
		return (await reply).data;
	};
	svc.stats = async () => (await inboundVideoByMid(svc.peer?.pc))[svc.mid] || {};
}

async function openPage(logs) {
	const page = await env.browser.newPage();
	logs.push(recordConsole(page));
	await page.goto(`${env.gw.httpUrl}/index.html`);
	await page.evaluate(pageSetup, env.gw.wsUrl);
	return page;
}

function context(logs) {
	return `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${env.gw.logTail(40)}`;
}

// The last layer event the subscriber got (spatial_layer / temporal_layer).
const lastLayers = () => {
	const out = {};
	for (const { data } of window.svc.events) {
		if (data.spatial_layer !== undefined)
			out.spatial = data.spatial_layer;
		if (data.temporal_layer !== undefined)
			out.temporal = data.temporal_layer;
	}
	return out;
};

test('VP9 SVC: spatial_layer 0 shrinks the decoded picture to a quarter, 2 brings it back', CASE, async () => {
	const logs = [], pages = [];
	const room = 100000 + Math.floor(Math.random() * 800000000);
	try {
		const pub = await openPage(logs);
		pages.push(pub);
		const created = await pub.evaluate(r => window.svc.createRoom(r), room);
		assert.equal(created?.videoroom, 'created', JSON.stringify(created));
		const feed = await pub.evaluate(r => window.svc.publish(r), room);
		const viewer = await openPage(logs);
		pages.push(viewer);
		const mid = await viewer.evaluate(([r, f]) => window.svc.subscribe(r, f), [room, feed]);
		assert.equal(await viewer.evaluate(() => window.svc.codec), 'vp9');
		const sender = async () => JSON.stringify(await pub.evaluate(() => window.svc.outbound()));
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
