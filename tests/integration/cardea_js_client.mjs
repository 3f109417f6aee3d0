// Drives html/cardea.js from node for test_reconnect.py: connects to the
// WebSocket URL in argv[2], creates a session, attaches the echotest, then
// prints one JSON line per thing that happens and obeys stdin lines:
//   "message"  -> sends {audio: true} and prints the echotest's event
//   "quit"     -> closes and exits
// Run with node --experimental-websocket (node 20 has no global WebSocket
// otherwise).
import { createInterface } from 'node:readline';
import { connect } from '../../html/cardea.js';

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const gw = await connect({ ws: process.argv[2], transport: 'ws', reconnectMs: Number(process.argv[3] || 30000) });
const session = await gw.createSession();
const handle = await session.attach('janus.plugin.echotest');
gw.on('reconnecting', ev => out({ ev: 'reconnecting', reason: ev.reason }));
gw.on('reconnected', () => out({ ev: 'reconnected', reconnects: gw.reconnects }));
gw.on('close', ev => out({ ev: 'close', reason: ev.reason, lost: ev.lost }));
session.on('gone', ev => out({ ev: 'gone', code: ev.code }));
handle.on('event', msg => out({ ev: 'event', data: msg.plugindata?.data }));
out({ ev: 'ready', session: session.id, handle: handle.id });

for await (const line of createInterface({ input: process.stdin })) {
	if (line === 'message') {
		handle.message({ audio: true }).then(r => out({ ev: 'reply', janus: r.janus }),
			err => out({ ev: 'reply', error: err.message, code: err.code }));
	} else if (line === 'quit') {
		gw.close();
		break;
	}
}
process.exit(0);
