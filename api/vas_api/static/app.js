// VAS web viewer: camera grid from the facade's API, live WebRTC through the facade's
// Janus signalling proxy. No build step; janus.js and adapter.js come from the system.
'use strict';

const state = { token: sessionStorage.getItem('vas-token') || '', cameras: [], groups: [],
  player: null };
// Observable by tests and by curious people in the console.
window.vas = { events: [], errors: [], firstFrameMs: undefined, state: 'idle' };
const $ = (id) => document.getElementById(id);
const mark = (what) => window.vas.events.push([Math.round(performance.now()), what]);

async function api(path, method) {
  const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
  const res = await fetch(path, { headers, method: method || 'GET' });
  if (res.status === 401) { askToken(); throw new ApiError(401, 'Sign in to see cameras.'); }
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, msg);
  }
  return res;
}
class ApiError extends Error { constructor(code, msg) { super(msg); this.code = code; } }

function notice(text, kind) {
  const el = $('notice');
  el.textContent = text || ''; el.hidden = !text; el.className = 'notice ' + (kind || '');
}

function askToken() {
  const dlg = $('login');
  if (!dlg.open) { $('token').value = state.token; dlg.showModal(); }
}
$('login').addEventListener('close', () => {
  state.token = $('token').value.trim();
  sessionStorage.setItem('vas-token', state.token);
  boot();
});
$('who').addEventListener('click', askToken);

async function loadGroups() {
  const res = await api('/api/v1/groups?limit=500');
  state.groups = (await res.json()).items;
  const sel = $('group'), keep = sel.value;
  sel.innerHTML = '<option value="">All cameras</option>';
  for (const g of state.groups) {
    const o = document.createElement('option');
    o.value = g.namespace + '/' + g.name;
    o.textContent = `${g.name} (${g.readyMembers ?? 0}/${g.members ?? 0})`;
    sel.appendChild(o);
  }
  sel.value = keep;
}

const PAGE = 120;

function query() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  const q = $('search').value.trim(), labels = $('labels').value.trim(), group = $('group').value;
  if (q) params.set('q', q);
  if (labels) params.set('labelSelector', labels);
  let cols = '';
  if (group) {
    const [ns, name] = group.split('/');
    params.set('namespace', ns); params.set('group', name);
    const g = state.groups.find((x) => x.namespace === ns && x.name === name);
    if (g && g.layout && g.layout.columns) cols = String(g.layout.columns);
  }
  $('grid').style.setProperty('--cols', cols || 'auto-fill');
  return params;
}

// One page at a time: a site with thousands of cameras must not load them all to show twenty.
async function loadCameras(more) {
  const params = query();
  if (more && state.next) params.set('continue', state.next);
  const page = await (await api('/api/v1/cameras?' + params)).json();
  state.cameras = more ? state.cameras.concat(page.items) : page.items;
  state.next = page.continue; state.total = page.total;
  render(more ? page.items : null);
}

function render(added) {
  const grid = $('grid');
  if (!added) grid.innerHTML = '';
  $('empty').hidden = state.cameras.length > 0;
  for (const cam of added || state.cameras) {
    const card = document.createElement('article');
    card.className = 'card';
    card.dataset.camera = cam.namespace + '/' + cam.name;
    const s = cam.stream || {};
    // Everything shown comes from objects tenants write: text only, never markup.
    card.innerHTML = `<div class="thumb">▶</div><div class="meta">
      <div class="name"><span></span><span class="badge"></span></div>
      <div class="sub"></div></div>`;
    card.querySelector('.name span').textContent = cam.name;
    const badge = card.querySelector('.badge');
    badge.textContent = cam.phase; badge.className = 'badge ' + cam.phase;
    card.querySelector('.sub').textContent = [cam.location || cam.namespace,
      s.resolution, s.codec, cam.ready ? '' : cam.reason].filter(Boolean).join(' · ');
    card.title = cam.description || '';
    card.addEventListener('click', () => play(cam));
    card._cam = cam;
    grid.appendChild(card);
    thumbs.observe(card);
  }
  const more = $('more');
  more.hidden = !state.next;
  more.textContent = `Show more (${state.cameras.length} of ${state.total})`;
}

// Thumbnails only for cards on screen.
const thumbs = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    thumbs.unobserve(e.target);
    if (e.target._cam.ready) thumbnail(e.target._cam, e.target.querySelector('.thumb'));
  }
}, { rootMargin: '200px' });

async function thumbnail(cam, el) {
  try {
    const res = await api(`/api/v1/namespaces/${cam.namespace}/cameras/${cam.name}/thumbnail.jpg`);
    el.style.backgroundImage = `url(${URL.createObjectURL(await res.blob())})`;
    el.textContent = '';
  } catch (e) { /* no thumbnail yet: keep the play glyph */ }
}

// ---- player -------------------------------------------------------------------------

function play(cam) {
  stop();
  $('player').hidden = false;
  $('p-title').textContent = `${cam.namespace} / ${cam.name}`;
  $('p-badge').textContent = cam.phase; $('p-badge').className = 'badge ' + cam.phase;
  const s = cam.stream || {};
  $('p-info').textContent = [cam.location, cam.description, s.resolution, s.codec,
    s.fps && s.fps + ' fps', cam.gateway].filter(Boolean).join(' · ');
  window.vas.firstFrameMs = undefined;
  if (!cam.enabled || !cam.mounted) {
    say(cam.enabled ? `Camera offline: ${cam.message || cam.reason || 'not mounted yet'}`
      : 'This camera is switched off (spec.enabled is false).');
    window.vas.state = 'offline';
    return;
  }
  state.player = { cam, attempt: 0, janus: null, timer: null, started: performance.now() };
  connect();
}

async function playByName(key) {
  const [ns, name] = key.split('/');
  try {
    const cam = await (await api(`/api/v1/namespaces/${ns}/cameras/${name}`)).json();
    play(cam);
  } catch (e) {
    $('player').hidden = false;
    $('p-title').textContent = key;
    say(e.code === 403 ? `Access denied: ${e.message}` : e.message);
    window.vas.state = e.code === 403 ? 'forbidden' : 'error';
  }
}

function say(text) { $('p-msg').textContent = text || ''; }

// The bearer token only ever travels in an Authorization header: signalling gets a
// short-lived handle for this camera, which janus.js carries in Janus's token slot.
async function signallingGrant(cam) {
  const path = `/api/v1/namespaces/${encodeURIComponent(cam.namespace)}/cameras/` +
    `${encodeURIComponent(cam.name)}/signalling`;
  return (await api(path, 'POST')).json();
}

// Each connection attempt is one Janus session on the camera's gateway pod. Whatever ends it
// (the stream stops or hangs up, the mountpoint disappears because the operator moved the
// camera to another pod, the pod or the facade answers no more, the video freezes), the
// player starts over by itself: a fresh signalling handle, a new session wherever the
// camera is mounted now. Callbacks of an abandoned attempt are ignored.
async function connect() {
  const p = state.player;
  if (!p) return;
  const cam = p.cam, video = $('video');
  const gen = p.gen = (p.gen || 0) + 1;
  const current = () => state.player === p && p.gen === gen;
  say(p.attempt ? 'Reconnecting…' : 'Connecting…');
  window.vas.state = 'connecting';
  mark('connect');
  let grant;
  try { grant = await signallingGrant(cam); } catch (e) {
    if (!current()) return;
    if (e.code === 403) { say(`Access denied: ${e.message}`); window.vas.state = 'forbidden'; return; }
    if (e.code === 404) { say(e.message); window.vas.state = 'offline'; return; }
    if (e.code === 401) { window.vas.state = 'unauthorized'; return; }
    retry(e.message); return;
  }
  if (!current()) return;
  if (!grant.gateway) {  // not mounted on a live gateway pod yet (or being moved)
    retry(null, 'Camera offline: not mounted on any gateway yet. Trying again');
    window.vas.state = 'offline';
    return;
  }
  mark('gateway:' + grant.gateway);
  const again = (reason, text) => { if (current()) retry(reason, text); };
  Janus.init({ debug: false, callback: () => {
    if (!current()) return;
    const janus = new Janus({
      server: grant.server,
      token: grant.token,
      iceServers: [],
      success: () => janus.attach({
        plugin: 'janus.plugin.streaming',
        success: (h) => { p.handle = h; h.send({ message: { request: 'watch', id: grant.mountpointId } }); },
        error: (e) => { if (current()) fail(String(e)); },
        onmessage: (msg, jsep) => {
          if (!current()) return;
          if (msg.error_code === 455) {  // no such mountpoint: not mounted (any more) here
            // A restarted or drained gateway: the operator mounts the camera again (here or
            // on another pod) within one health interval. Keep trying, slowly.
            again(null, 'Camera offline: not mounted on the gateway. Trying again');
            window.vas.state = 'offline';
            return;
          }
          if (msg.error) { fail(msg.error, msg.error_code); return; }
          const status = msg.result && msg.result.status;
          if (status === 'stopped' || status === 'destroyed') {  // the mountpoint went away
            mark('stream:' + status);
            again('the stream ended');
            return;
          }
          if (jsep) {
            p.handle.createAnswer({ jsep, tracks: [{ type: 'data' }],
              success: (answer) => p.handle.send({ message: { request: 'start' }, jsep: answer }),
              error: (e) => { if (current()) fail('WebRTC: ' + (e.message || e)); } });
          }
        },
        onremotetrack: (track, mid, on) => {
          if (on && track.kind === 'video' && current()) {
            Janus.attachMediaStream(video, new MediaStream([track]));
          }
        },
        iceState: (s) => { mark('ice:' + s); if (s === 'failed' || s === 'disconnected') again(); },
        webrtcState: (up, why) => { mark('webrtc:' + (up ? 'up' : 'down')); if (!up) again(why); },
        oncleanup: () => { mark('cleanup'); again('the gateway hung up'); },
      }),
      error: (e) => { if (current()) fail(String(e)); },
      destroyed: () => { mark('destroyed'); again('the session ended'); },
    });
    p.janus = janus;
  } });
}

// A stream that froze without any signal (a gateway pod gone without a word): nothing new
// for STALL_MS while playing starts over too.
const STALL_MS = 6000;
setInterval(() => {
  const p = state.player, v = $('video');
  if (!p || p.timer || window.vas.state !== 'playing') return;
  if (v.currentTime !== p.lastTime) { p.lastTime = v.currentTime; p.lastProgress = performance.now(); return; }
  if (performance.now() - (p.lastProgress || 0) > STALL_MS) { mark('stalled'); retry('no video'); }
}, 1000);

function fail(message, code) {
  window.vas.errors.push(String(message));
  mark('error');
  if (/401|token/i.test(message) && /not accepted|required/i.test(message)) {
    say('Your session has expired. Sign in again.'); askToken(); window.vas.state = 'unauthorized';
    return;
  }
  if (/403|may not/i.test(message) || code === 403) {
    say(`Access denied: ${message}`); window.vas.state = 'forbidden';
    return;
  }
  retry(message);
}

function retry(reason, text) {
  const p = state.player;
  if (!p || p.timer) return;
  p.attempt += 1;
  // The first retry is quick: a stream that ended because its camera moved to another
  // gateway pod plays again as soon as the new pod has it.
  const delay = p.attempt === 1 ? 500 : Math.min(1000 * 2 ** (p.attempt - 2), 10000);
  const what = text || `Stream interrupted${reason ? ' (' + reason + ')' : ''}. Reconnecting`;
  say(`${what} in ${Math.max(1, Math.round(delay / 1000))} s…`);
  window.vas.state = 'reconnecting';
  mark('retry');
  p.gen = (p.gen || 0) + 1;  // whatever the old session still reports is ignored from now on
  const old = p.janus;
  p.janus = null;
  try { old && old.destroy({ notifyDestroyed: false }); } catch (e) { /* gone already */ }
  p.timer = setTimeout(() => { p.timer = null; connect(); }, delay);
}

function stop() {
  const p = state.player;
  state.player = null;
  if (p) {
    clearTimeout(p.timer);
    try { p.janus && p.janus.destroy({ notifyDestroyed: false }); } catch (e) { /* ignore */ }
  }
  const v = $('video'); v.srcObject = null;
  say('');
}

$('video').addEventListener('playing', () => {
  const p = state.player;
  if (p && window.vas.firstFrameMs === undefined) {
    window.vas.firstFrameMs = Math.round(performance.now() - p.started);
  }
  if (p) {
    p.attempt = 0; p.lastProgress = performance.now();
    say(''); window.vas.state = 'playing'; mark('playing');
  }
});
$('p-close').addEventListener('click', () => { stop(); $('player').hidden = true; });
$('p-full').addEventListener('click', () => $('video').closest('.stage').requestFullscreen());
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') $('p-close').click(); });

let debounce;
for (const id of ['search', 'labels']) {
  $(id).addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(refresh, 250); });
}
$('group').addEventListener('change', refresh);
$('more').addEventListener('click', () => loadCameras(true).catch((e) => notice(e.message, 'error')));

async function refresh() {
  try { notice(''); await loadCameras(); } catch (e) {
    if (e.code !== 401) notice(e.message, 'error');
  }
}

async function boot() {
  try {
    const me = await (await api('/api/v1/me')).json();
    $('who').textContent = me.devMode ? 'dev mode' : me.username;
    if (me.devMode) notice('Development mode: no sign-in, every camera is visible.');
    const wanted = new URLSearchParams(location.search).get('play');
    if (wanted) playByName(wanted);  // at once, not after the grid
    await loadGroups();
    await loadCameras();
    setInterval(() => { if (!state.player) refresh(); }, 10000);
  } catch (e) {
    if (e.code !== 401) notice(e.message, 'error');
  }
}
boot();
