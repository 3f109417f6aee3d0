// Shared by the SVC browser tests (tests/e2e/svc*.test.mjs): a page that
// drives the video room through html/cardea.js and html/rtc.js as an SVC
// publisher or a subscriber (window.svc), and the helpers around it.
import { recordConsole } from './browser.mjs';

// Runs in the page (page.evaluate): sets up window.svc.
export async function pageSetup(ws) {
	const { connect } = await import('/cardea.js');
	const { Peer, pluginData } = await import('/rtc.js');
	const gw = await connect({ ws, transport: 'ws' });
	const session = await gw.createSession();
	const svc = window.svc = { events: [], error: null };
	const attach = async () => {
		const h = await session.attach('janus.plugin.videoroom');
		h.on('event', msg => svc.events.push(pluginData(msg)));
		return h;
	};
	const nextEvent = (h, ok) => h.once('event', msg => ok(pluginData(msg)), 20000).then(pluginData);
	svc.createRoom = async (room, videocodec, bitrate) => {
		const h = await attach();
		const reply = await h.message({ request: 'create', room, permanent: false, publishers: 4,
			videocodec, video_svc: true, bitrate });
		return reply.plugindata?.data;
	};
	svc.hasCodec = re => RTCRtpSender.getCapabilities('video').codecs.some(c => new RegExp(re, 'i').test(c.mimeType));
	// o: { codec (regexp source), mode, fallbackMode, width, height, fps, maxBitrate }.
	// Chromium does not list scalability modes (getCapabilities) without a
	// flag: the mode asked for is tried, fallbackMode when it is refused.
	svc.publish = async (room, o) => {
		const h = await attach();
		const peer = svc.peer = new Peer(h);
		const joined = nextEvent(h, d => d.data.videoroom === 'joined' || d.data.error);
		await h.message({ request: 'join', ptype: 'publisher', room, display: 'svc' });
		const j = await joined;
		if (j.data.error)
			throw new Error(j.data.error);
		svc.feed = j.data.id;
		const stream = await navigator.mediaDevices.getUserMedia({ video: { width: o.width, height: o.height, frameRate: o.fps } });
		const track = stream.getVideoTracks()[0];
		let tr;
		svc.mode = o.mode;
		try {
			tr = peer.pc.addTransceiver(track, { direction: 'sendonly',
				sendEncodings: [{ scalabilityMode: o.mode, maxBitrate: o.maxBitrate }] });
		} catch (e) {
			if (!o.fallbackMode)
				throw e;
			svc.refused = `${o.mode}: ${e}`;
			svc.mode = o.fallbackMode;
			tr = peer.pc.addTransceiver(track, { direction: 'sendonly',
				sendEncodings: [{ scalabilityMode: o.fallbackMode, maxBitrate: o.maxBitrate }] });
		}
		tr.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter(c => new RegExp(o.codec, 'i').test(c.mimeType)));
		// Keep the resolution when the machine is loaded: the layers are what is tested.
		const params = tr.sender.getParameters();
		params.degradationPreference = 'maintain-resolution';
		await tr.sender.setParameters(params).catch(() => {});
		const answered = nextEvent(h, d => d.jsep || d.data.error);
		await peer.offer({ request: 'configure', audio: false, video: true });
		const a = await answered;
		if (!a.jsep)
			throw new Error(a.data.error || 'no answer');
		svc.pubAnswer = a.jsep.sdp;
		await peer.pc.setRemoteDescription(a.jsep);
		return svc.feed;
	};
	svc.outbound = async () => {
		const out = [];
		(await svc.peer?.pc.getStats())?.forEach(r => {
			if (r.type === 'outbound-rtp' && r.kind === 'video')
				out.push({ frameWidth: r.frameWidth, framesSent: r.framesSent, scalabilityMode: r.scalabilityMode,
					encoder: r.encoderImplementation, limitation: r.qualityLimitationReason, bytesSent: r.bytesSent,
					fps: r.framesPerSecond });
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
		svc.subOffer = o.jsep.sdp;
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
	// Inbound video of our mid.
	svc.stats = async () => {
		let out = {};
		(await svc.peer?.pc.getStats())?.forEach(r => {
			if (r.type === 'inbound-rtp' && r.kind === 'video' && r.mid === svc.mid)
				out = { framesDecoded: r.framesDecoded ?? 0, bytesReceived: r.bytesReceived ?? 0,
					frameWidth: r.frameWidth ?? 0, frameHeight: r.frameHeight ?? 0, fps: r.framesPerSecond ?? 0,
					decoder: r.decoderImplementation, keyFramesDecoded: r.keyFramesDecoded };
		});
		return out;
	};
	// Decoded frames per second over `ms` (getStats' framesPerSecond lags).
	svc.rate = async ms => {
		const a = await svc.stats();
		await new Promise(r => setTimeout(r, ms));
		const b = await svc.stats();
		return { ...b, rate: (b.framesDecoded - a.framesDecoded) * 1000 / ms };
	};
}

export async function openPage(env, logs) {
	const page = await env.browser.newPage();
	logs.push(recordConsole(page));
	await page.goto(`${env.gw.httpUrl}/index.html`);
	await page.evaluate(pageSetup, env.gw.wsUrl);
	return page;
}

export function context(env, logs) {
	return `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${env.gw.logTail(40)}`;
}

// In the page: the last layer event the subscriber got (spatial_layer / temporal_layer).
export const lastLayers = () => {
	const out = {};
	for (const { data } of window.svc.events) {
		if (data.spatial_layer !== undefined)
			out.spatial = data.spatial_layer;
		if (data.temporal_layer !== undefined)
			out.temporal = data.temporal_layer;
	}
	return out;
};
