// Shows what the gateway serving this page says about itself (GET /janus/info).
// ?http=... (or ?api=...) and ?ws=... point it elsewhere; the demo links
// keep them.
import { pageServers } from './cardea.js';

const servers = pageServers();
const apiBase = servers.http;

const DEMOS = [
  { plugin: 'janus.plugin.echotest', page: 'echotest.html', title: 'Echo test' },
  { plugin: 'janus.plugin.videocall', page: 'videocall.html', title: 'One-to-one video call' },
  { plugin: 'janus.plugin.videoroom', page: 'videoroom.html', title: 'Video room (SFU)' },
  { plugin: 'janus.plugin.videoroom', page: 'screenshare.html', title: 'Screen sharing (video room)' },
  { plugin: 'cardea.plugin.broadcast', page: 'broadcast.html', title: 'Screen-share broadcast' },
];

function row(tbody, key, value) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  const td = document.createElement('td');
  th.textContent = key;
  td.textContent = String(value);
  tr.append(th, td);
  tbody.append(tr);
}

function moduleList(title, modules) {
  const section = document.createElement('div');
  const h = document.createElement('h3');
  h.textContent = title;
  const ul = document.createElement('ul');
  const names = Object.keys(modules || {});
  for (const name of names) {
    const li = document.createElement('li');
    const m = modules[name];
    li.textContent = `${name} — ${m.description || m.name || ''} (${m.version_string || '?'})`;
    ul.append(li);
  }
  if (names.length === 0) {
    const li = document.createElement('li');
    li.textContent = 'none loaded';
    ul.append(li);
  }
  section.append(h, ul);
  return section;
}

async function main() {
  const status = document.getElementById('status');
  try {
    const res = await fetch(`${apiBase}/info`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const info = await res.json();
    if (info.janus !== 'server_info') throw new Error(`unexpected reply: ${info.janus}`);
    status.textContent = `${info.name} ${info.version_string} is up.`;
    const table = document.getElementById('info');
    const tbody = table.querySelector('tbody');
    row(tbody, 'Server name', info['server-name']);
    row(tbody, 'Accepting new sessions', info['accepting-new-sessions']);
    row(tbody, 'Session timeout (s)', info['session-timeout']);
    row(tbody, 'API secret required', info.api_secret);
    row(tbody, 'Token auth', info.auth_token);
    table.hidden = false;
    const modules = document.getElementById('modules');
    modules.append(moduleList('Plugins', info.plugins), moduleList('Transports', info.transports));
    const endpoints = document.getElementById('endpoints');
    for (const text of [
      `HTTP Janus API: ${apiBase}`,
      `WebSocket Janus API: ${servers.ws} (subprotocol janus-protocol)`,
      'Admin API: 127.0.0.1:7088/admin and ws://127.0.0.1:7188 (loopback only by default)',
    ]) {
      const li = document.createElement('li');
      li.textContent = text;
      endpoints.append(li);
    }
    const demos = document.getElementById('demos');
    for (const d of DEMOS) {
      const li = document.createElement('li');
      if (info.plugins && info.plugins[d.plugin]) {
        const a = document.createElement('a');
        a.href = d.page + location.search;
        a.textContent = d.title;
        li.append(a);
      } else {
        li.textContent = `${d.title} — needs ${d.plugin}, not loaded in this build`;
      }
      demos.append(li);
    }
  } catch (err) {
    status.textContent = `Could not reach the gateway at ${apiBase}: ${err.message}`;
    status.className = 'error';
  }
}

main();
