// VAS web viewer: camera grid from the facade's API, live WebRTC through the facade's
// Janus signalling proxy. No build step; janus.js and adapter.js come from the system.
//
// The grid is a wall: tiles on screen play live (the camera's sub-stream when it has one), up
// to a cap (?live=N, default 16); the others show thumbnails and start when scrolled to. A
// click opens the player (main stream); full screen on a tile switches it to the main stream.
'use strict';

const params = new URLSearchParams(location.search);
// Each live tile holds a Janus session and a signalling handle; the facade allows a viewer 32
// of each by default, so the cap stays below that, with room for the player and retries.
const LIVE_CAP = Math.max(0, Math.min(24, parseInt(params.get('live') || '16', 10) || 0));
// ?quality=main|sub|auto: what the wall's tiles start with (each tile has its own control).
const QUALITY = ['main', 'sub'].includes(params.get('quality')) ? params.get('quality') : 'auto';
const state = { token: sessionStorage.getItem('vas-token') || '', cameras: [], groups: [],
  player: null, tiles: new Map(), selected: new Set() };
// Observable by tests and by curious people in the console. events/state/firstFrameMs are the
// player's; tiles and selection are read fresh on every access.
window.vas = { events: [], errors: [], firstFrameMs: undefined, state: 'idle' };
Object.defineProperty(window.vas, 'tiles', { enumerable: true,
  get: () => [...state.tiles.values()].map((t) => t.record()) });
Object.defineProperty(window.vas, 'selection', { enumerable: true,
  get: () => [...state.selected] });
// Bytes of video received so far by each live tile, from WebRTC's own statistics.
window.vas.received = () => Promise.all([...state.tiles.values()].filter((t) => t.live)
  .map(async (t) => ({ camera: keyOf(t.cam), stream: t.live.kind, bytes: await t.live.received() })));
const $ = (id) => document.getElementById(id);
const now = () => Math.round(performance.now());
const mark = (what) => window.vas.events.push([now(), what]);
const keyOf = (cam) => cam.namespace + '/' + cam.name;

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
  const sel = $('group'), keep = sel.value || params.get('group') || '';
  sel.replaceChildren(new Option('All cameras', ''));
  for (const g of state.groups) {
    sel.appendChild(new Option(`${g.name} (${g.readyMembers ?? 0}/${g.members ?? 0})`,
      g.namespace + '/' + g.name));
  }
  sel.value = keep;
}

const PAGE = 120;

function query() {
  const q = new URLSearchParams({ limit: String(PAGE) });
  const text = $('search').value.trim(), labels = $('labels').value.trim(), group = $('group').value;
  if (text) q.set('q', text);
  if (labels) q.set('labelSelector', labels);
  let layout = {};
  if (group) {
    const [ns, name] = group.split('/');
    q.set('namespace', ns); q.set('group', name);
    const g = state.groups.find((x) => x.namespace === ns && x.name === name);
    layout = (g && g.layout) || {};
  }
  applyLayout(layout);
  return q;
}

// A group's layout: Grid with a fixed number of columns, or Focus (the first member large, the
// others beside it). Phones always get one column (style.css).
function applyLayout(layout) {
  const grid = $('grid'), cols = Number(layout.columns) || 0;
  grid.classList.toggle('fixed', cols > 0);
  grid.classList.toggle('focus', layout.mode === 'Focus');
  if (cols > 0) grid.style.setProperty('--cols', String(cols));
  else grid.style.removeProperty('--cols');
}

// One page at a time: a site with thousands of cameras must not load them all to show twenty.
async function loadCameras(more) {
  const q = query();
  if (more && state.next) q.set('continue', state.next);
  const page = await (await api('/api/v1/cameras?' + q)).json();
  state.cameras = more ? state.cameras.concat(page.items) : page.items;
  state.next = page.continue; state.total = page.total;
  render();
}

// Tiles are kept across refreshes (keyed by namespace/name), so a playing tile keeps playing
// while the list is reloaded around it.
function render() {
  const grid = $('grid'), old = state.tiles;
  state.tiles = new Map();
  $('empty').hidden = state.cameras.length > 0;
  state.cameras.forEach((cam, i) => {
    const key = keyOf(cam);
    let tile = old.get(key);
    if (tile) { old.delete(key); tile.update(cam); } else { tile = new Tile(cam); }
    state.tiles.set(key, tile);
    // Only move what is out of place: a video moved in the DOM may pause.
    if (grid.children[i] !== tile.el) grid.insertBefore(tile.el, grid.children[i] || null);
  });
  for (const [key, tile] of old) { tile.remove(); state.selected.delete(key); }
  const more = $('more');
  more.hidden = !state.next;
  more.textContent = `Show more (${state.cameras.length} of ${state.total})`;
  scheduleLive();
}

// Thumbnails only for cards on screen.
const thumbs = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    thumbs.unobserve(e.target);
    const tile = e.target._tile;
    if (tile && tile.cam.ready) thumbnail(tile.cam, tile.thumb);
  }
}, { rootMargin: '200px' });

async function thumbnail(cam, el) {
  try {
    const res = await api(`/api/v1/namespaces/${cam.namespace}/cameras/${cam.name}/thumbnail.jpg`);
    el.style.backgroundImage = `url(${URL.createObjectURL(await res.blob())})`;
    el.querySelector('.glyph').textContent = '';
  } catch (e) { /* no thumbnail yet: keep the play glyph */ }
}

// ---- long-polls ---------------------------------------------------------------------
//
// janus.js keeps one HTTP long-poll open per Janus session, and a browser opens at most six
// connections per host over HTTP/1.1: a wall of nine sessions would leave no connection for
// anything else. So long-polls go through this scheduler: at most POLL_SLOTS at once, and none
// for a tile that plays (it needs no Janus event; a drop shows as a stall or an ICE change).
// A playing tile's session is kept alive with a keepalive instead; when the tile needs events
// again (a drop, a switch of streams) it starts a new session anyway. Aborting a long-poll is
// safe: the facade ends its wait at Janus too, so later events stay queued there.
const POLL_SLOTS = 3;
const KEEPALIVE_MS = 20000;  // Janus drops a session after 60 s without a request
const longPolls = {
  waiting: [],  // {key, url, options}: requests janus.js made, not sent (yet)
  active: new Map(),  // key -> {ctrl, item}
  quiet: new Map(),  // key -> {token, lost}: sessions that play and need no events

  request(url, options) {
    this.waiting.push({ key: url.split('?')[0], url, options });
    this.pump();
  },
  pump() {
    for (const item of [...this.waiting]) {
      if (this.active.size >= POLL_SLOTS) return;
      if (this.quiet.has(item.key) || this.active.has(item.key)) continue;
      this.waiting.splice(this.waiting.indexOf(item), 1);
      this.send(item);
    }
  },
  send(item) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort('timeout'), 70000);
    this.active.set(item.key, { ctrl, item });
    const finish = () => {
      clearTimeout(timer);
      if (this.active.get(item.key)?.ctrl === ctrl) this.active.delete(item.key);
    };
    fetch(item.url, { headers: { Accept: 'application/json' }, cache: 'no-cache', signal: ctrl.signal })
      .then((res) => {
        if (!res.ok) throw new Error(`API call failed (HTTP ${res.status})`);
        return res.json();
      })
      .then((json) => { finish(); item.options.success(json); this.pump(); }, (err) => {
        finish();
        const why = ctrl.signal.reason;
        if (why === 'parked') this.waiting.unshift(item);  // janus.js never knows
        else if (why !== 'forgotten') item.options.error(String(err.message || err), err);
        this.pump();
      });
  },
  // The session plays: no long-poll any more, a keepalive every KEEPALIVE_MS instead.
  park(key, token, lost) {
    this.quiet.set(key, { token, lost });
    this.active.get(key)?.ctrl.abort('parked');
  },
  // The session is gone: whatever janus.js still asked for it is dropped.
  forget(key) {
    this.quiet.delete(key);
    this.waiting = this.waiting.filter((item) => item.key !== key);
    this.active.get(key)?.ctrl.abort('forgotten');
    this.pump();
  },
  async keepalive() {
    for (const [key, q] of this.quiet) {
      const body = { janus: 'keepalive', transaction: Janus.randomString(12), token: q.token };
      let ok = false;
      try {
        const res = await fetch(key, { method: 'POST', body: JSON.stringify(body),
          headers: { 'Content-Type': 'application/json' } });
        ok = res.ok && (await res.json()).janus === 'ack';
      } catch (e) { /* the facade or the pod is gone */ }
      if (!ok && this.quiet.has(key)) q.lost();
    }
  },
};
setInterval(() => longPolls.keepalive(), KEEPALIVE_MS);

let janusReady = null;
function janusInit() {
  if (!janusReady) {
    const base = Janus.useDefaultDependencies();
    const dependencies = { ...base, httpAPICall: (url, options) => (options.verb === 'GET'
      ? longPolls.request(url, options) : base.httpAPICall(url, options)) };
    janusReady = new Promise((resolve) => Janus.init({ debug: false, dependencies, callback: resolve }));
  }
  return janusReady;
}

// ---- one live stream ------------------------------------------------------------------

// The bearer token only ever travels in an Authorization header: signalling gets a
// short-lived handle for this camera, which janus.js carries in Janus's token slot.
async function signallingGrant(cam) {
  const path = `/api/v1/namespaces/${encodeURIComponent(cam.namespace)}/cameras/` +
    `${encodeURIComponent(cam.name)}/signalling`;
  return (await api(path, 'POST')).json();
}

// A stream that froze without any signal (a gateway pod gone without a word, a camera that
// stopped sending): no frame decoded for STALL_MS while playing starts over too, and so does
// an attempt that shows no picture within CONNECT_MS. Frames are counted from WebRTC's
// statistics: a <video> playing a MediaStream advances its currentTime with or without them.
const STALL_MS = 6000;
const CONNECT_MS = 20000;
const lives = new Set();
setInterval(() => { for (const live of lives) live.checkStall(); }, 1000);
document.addEventListener('visibilitychange', () => {
  for (const live of lives) live.lastProgress = performance.now();  // a hidden page decodes little
});

// One camera playing in one <video>: the player's or a tile's. Each connection attempt is one
// Janus session on the camera's gateway pod. Whatever ends it (the stream stops or hangs up,
// the mountpoint disappears because the operator moved the camera to another pod, the pod or
// the facade answers no more, the video freezes), it starts over by itself: a fresh signalling
// handle, a new session wherever the camera is mounted now. Callbacks of an abandoned attempt
// are ignored. opts: quiet (park long-polls while playing), maxDelay (ms, retry backoff cap),
// iceGraceMs (how long ICE may stay "disconnected" before starting over: it often recovers),
// big() (shown large: Auto means the main stream), quality() ('auto' | 'main' | 'sub'),
// onState(state, text), mark(what), onPlaying().
class Live {
  constructor(cam, video, opts) {
    Object.assign(this, { cam, video, opts, attempt: 0, gen: 0, janus: null, timer: null,
      state: 'idle', kind: null, grant: null, sessionKey: null, stopped: false, frames: 0,
      attached: -1 });
    this.listening = new AbortController();
    video.addEventListener('playing', () => this.playing(), { signal: this.listening.signal });
  }

  start() { lives.add(this); this.connect(); }

  stop() {
    this.stopped = true;
    lives.delete(this);
    clearTimeout(this.timer); this.timer = null;
    this.teardown();
    this.listening.abort();
    this.video.srcObject = null;
    this.set('idle', '');
  }

  set(st, text) { this.state = st; this.since = now(); this.opts.onState(st, text || ''); }

  // Which of the camera's streams to play: the main one unless there is a sub-stream and the
  // quality is Sub, or Auto on a small tile. A sub-stream that is not mounted (yet) is
  // skipped for a minute.
  pick(grant) {
    const q = this.opts.quality();
    if (grant.substreamMountpointId == null || this.noSubUntil > performance.now()) return 'main';
    if (q === 'main' || q === 'sub') return q;
    return this.opts.big() ? 'main' : 'sub';
  }

  // Quality or size changed: switch streams now if another one is wanted.
  reconsider() {
    if (this.stopped || !this.grant || this.timer) return;
    if (this.pick(this.grant) !== this.kind) this.restart('switch');
  }

  restart(why) {
    clearTimeout(this.timer); this.timer = null;
    this.teardown();
    this.attempt = 0;
    this.opts.mark(why);
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    const gen = this.gen = this.gen + 1;
    const current = () => !this.stopped && this.gen === gen;
    this.set('connecting', this.attempt ? 'Reconnecting…' : 'Connecting…');
    this.opts.mark('connect');
    let grant;
    try { grant = await signallingGrant(this.cam); } catch (e) {
      if (!current()) return;
      if (e.code === 403) { this.set('forbidden', `Access denied: ${e.message}`); return; }
      if (e.code === 404) { this.set('offline', e.message); return; }
      if (e.code === 401) { this.set('unauthorized', ''); return; }
      this.retry(e.message); return;
    }
    if (!current()) return;
    if (!grant.gateway) {  // not mounted on a live gateway pod yet (or being moved)
      this.retry(null, 'Camera offline: not mounted on any gateway yet. Trying again', 'offline');
      return;
    }
    this.grant = grant;
    this.opts.mark('gateway:' + grant.gateway);
    const kind = this.kind = this.pick(grant);
    const id = kind === 'sub' ? grant.substreamMountpointId : grant.mountpointId;
    this.connectTimer = setTimeout(() => {
      if (current() && this.state !== 'playing') { this.opts.mark('stalled'); this.retry('no video'); }
    }, CONNECT_MS);
    await janusInit();
    if (!current()) return;
    const again = (reason, text, st) => { if (current()) this.retry(reason, text, st); };
    const janus = new Janus({
      server: grant.server,
      token: grant.token,
      iceServers: [],
      success: () => {
        if (!current()) return;
        this.sessionKey = grant.server + '/' + janus.getSessionId();
        janus.attach(this.callbacks(id, kind, current, again));
      },
      error: (e) => { if (current()) this.fail(String(e)); },
      destroyed: () => { this.opts.mark('destroyed'); again('the session ended'); },
    });
    this.janus = janus;
  }

  callbacks(id, kind, current, again) {
    let handle;
    return {
      plugin: 'janus.plugin.streaming',
      success: (h) => { handle = this.handle = h; h.send({ message: { request: 'watch', id } }); },
      error: (e) => { if (current()) this.fail(String(e)); },
      onmessage: (msg, jsep) => {
        if (!current()) return;
        if (msg.error_code === 455) {  // no such mountpoint: not mounted (any more) here
          if (kind === 'sub') {  // the sub-stream is not mounted: play the main one meanwhile
            this.noSubUntil = performance.now() + 60000;
            this.restart('no-substream');
            return;
          }
          // A restarted or drained gateway: the operator mounts the camera again (here or
          // on another pod) within one health interval. Keep trying, slowly.
          again(null, 'Camera offline: not mounted on the gateway. Trying again', 'offline');
          return;
        }
        if (msg.error) { this.fail(msg.error, msg.error_code); return; }
        const status = msg.result && msg.result.status;
        if (status === 'stopped' || status === 'destroyed') {  // the mountpoint went away
          this.opts.mark('stream:' + status);
          again('the stream ended');
          return;
        }
        if (jsep) {
          handle.createAnswer({ jsep, tracks: [{ type: 'data' }],
            success: (answer) => handle.send({ message: { request: 'start' }, jsep: answer }),
            error: (e) => { if (current()) this.fail('WebRTC: ' + (e.message || e)); } });
        }
      },
      onremotetrack: (track, mid, on) => {
        if (on && track.kind === 'video' && current()) {
          this.attached = this.gen;  // only this attempt's picture counts as playing
          this.frames = 0;
          Janus.attachMediaStream(this.video, new MediaStream([track]));
        }
      },
      iceState: (s) => {
        this.opts.mark('ice:' + s);
        clearTimeout(this.iceTimer);
        if (s === 'failed' || (s === 'disconnected' && !this.opts.iceGraceMs)) again();
        else if (s === 'disconnected') this.iceTimer = setTimeout(() => again('ICE'), this.opts.iceGraceMs);
      },
      webrtcState: (up, why) => { this.opts.mark('webrtc:' + (up ? 'up' : 'down')); if (!up) again(why); },
      oncleanup: () => { this.opts.mark('cleanup'); again('the gateway hung up'); },
    };
  }

  playing() {
    // The old attempt's stream may still play a moment after a teardown: not this attempt's.
    if (this.stopped || this.state === 'playing' || this.attached !== this.gen) return;
    this.attempt = 0; this.lastProgress = performance.now();
    clearTimeout(this.connectTimer);
    this.set('playing', '');
    this.opts.mark('playing');
    if (this.opts.onPlaying) this.opts.onPlaying();
    if (this.opts.quiet && this.sessionKey) {
      const gen = this.gen;
      longPolls.park(this.sessionKey, this.grant.token, () => {
        if (this.gen === gen && !this.stopped) this.retry('the gateway lost the session');
      });
    }
  }

  // The current attempt's inbound-rtp figures: {bytes, frames} (frames decoded).
  async inbound() {
    const pc = this.handle && this.handle.webrtcStuff && this.handle.webrtcStuff.pc;
    const totals = { bytes: 0, frames: 0 };
    if (!pc) return totals;
    (await pc.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      totals.bytes += r.bytesReceived || 0; totals.frames += r.framesDecoded || 0;
    });
    return totals;
  }

  async received() { return (await this.inbound()).bytes; }

  async checkStall() {
    if (this.timer || this.state !== 'playing' || this.checking) return;
    const gen = this.gen;
    this.checking = true;
    try { this.frames = (await this.inbound()).frames; } finally { this.checking = false; }
    if (gen !== this.gen || this.state !== 'playing' || document.hidden) return;
    if (this.frames !== this.lastFrames) {
      this.lastFrames = this.frames; this.lastProgress = performance.now(); return;
    }
    if (performance.now() - (this.lastProgress || 0) > STALL_MS) {
      this.opts.mark('stalled'); this.retry('no video');
    }
  }

  fail(message, code) {
    window.vas.errors.push(String(message));
    this.opts.mark('error');
    if (/401|token/i.test(message) && /not accepted|required/i.test(message)) {
      this.set('unauthorized', 'Your session has expired. Sign in again.'); askToken();
      return;
    }
    if (/403|may not/i.test(message) || code === 403) {
      this.set('forbidden', `Access denied: ${message}`);
      return;
    }
    this.retry(message);
  }

  retry(reason, text, st) {
    if (this.stopped || this.timer) return;
    this.attempt += 1;
    // The first retry is quick: a stream that ended because its camera moved to another
    // gateway pod plays again as soon as the new pod has it.
    const delay = this.attempt === 1 ? 500
      : Math.min(1000 * 2 ** (this.attempt - 2), this.opts.maxDelay);
    const what = text || `Stream interrupted${reason ? ' (' + reason + ')' : ''}. Reconnecting`;
    this.set(st || 'reconnecting', `${what} in ${Math.max(1, Math.round(delay / 1000))} s…`);
    this.opts.mark('retry');
    this.teardown();
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, delay);
  }

  // Ends the current attempt: whatever the old session still reports is ignored from now on.
  teardown() {
    this.gen += 1;
    clearTimeout(this.connectTimer); clearTimeout(this.iceTimer);
    if (this.sessionKey) longPolls.forget(this.sessionKey);
    this.sessionKey = null;
    const old = this.janus;
    this.janus = null; this.handle = null;
    try { if (old) old.destroy({ notifyDestroyed: false }); } catch (e) { /* gone already */ }
  }
}

// ---- snapshots ------------------------------------------------------------------------

function stamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

// The frame on screen, at the stream's own size, saved as <namespace>-<camera>-<time>.png.
function snapshot(cam, video) {
  if (!video.videoWidth) { notice('No picture to save yet.'); return; }
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${cam.namespace}-${cam.name}-${stamp(new Date())}.png`;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
}

// ---- tiles ----------------------------------------------------------------------------

const TILE = `<div class="thumb"><span class="glyph">▶</span>
  <video muted playsinline autoplay></video><div class="overlay"></div>
  <label class="pick" title="Select"><input type="checkbox" aria-label="Select camera"></label>
  <span class="dot" aria-hidden="true"></span>
  <div class="tools">
    <select class="quality" aria-label="Stream quality" title="Stream quality">
      <option value="auto">Auto</option><option value="main">Main</option><option value="sub">Sub</option>
    </select>
    <button class="snap ghost" title="Save a snapshot (PNG)" aria-label="Snapshot">⤓</button>
    <button class="full ghost" title="Full screen (main stream)" aria-label="Full screen">⤢</button>
  </div></div>
  <div class="meta"><div class="name"><span></span><span class="badge"></span></div>
  <div class="sub"></div></div>`;

class Tile {
  constructor(cam) {
    const el = this.el = document.createElement('article');
    el.className = 'card';
    el.innerHTML = TILE;  // a constant: tenant text goes in with textContent (update)
    el._tile = this;
    el.dataset.state = 'idle';
    this.thumb = el.querySelector('.thumb');
    this.video = el.querySelector('video');
    this.msg = el.querySelector('.overlay');
    this.quality = el.querySelector('.quality');
    this.quality.value = QUALITY;
    this.events = [];
    this.visible = false;
    this.live = null;
    const pick = el.querySelector('.pick input');
    for (const c of el.querySelectorAll('.pick, .tools')) {
      c.addEventListener('click', (e) => e.stopPropagation());  // not "open the player"
    }
    pick.addEventListener('change', () => {
      const key = keyOf(this.cam);
      if (pick.checked) state.selected.add(key); else state.selected.delete(key);
      el.classList.toggle('picked', pick.checked);
      document.dispatchEvent(new CustomEvent('vas:selection', { detail: window.vas.selection }));
    });
    this.quality.addEventListener('change', () => this.live && this.live.reconsider());
    el.querySelector('.snap').addEventListener('click', () => snapshot(this.cam, this.video));
    el.querySelector('.full').addEventListener('click', () => this.fullscreen());
    el.addEventListener('click', () => play(this.cam));
    this.update(cam);
    thumbs.observe(el);
    onScreen.observe(el);
  }

  update(cam) {
    this.cam = cam;
    const el = this.el, s = cam.stream || {}, sub = cam.substream || {};
    el.dataset.camera = keyOf(cam);
    // Everything shown comes from objects tenants write: text only, never markup.
    el.querySelector('.name span').textContent = cam.name;
    const badge = el.querySelector('.badge');
    badge.textContent = cam.phase; badge.className = 'badge ' + cam.phase;
    const res = sub.resolution ? `${s.resolution || '?'} / ${sub.resolution}` : s.resolution;
    el.querySelector('.sub').textContent = [cam.location || cam.namespace, res, s.codec,
      cam.ready ? '' : cam.reason].filter(Boolean).join(' · ');
    el.title = cam.description || '';
    el.querySelector('.pick input').checked = state.selected.has(keyOf(cam));
  }

  fullscreen() {
    if (document.fullscreenElement === this.el) { document.exitFullscreen(); return; }
    if (!this.el.requestFullscreen) { play(this.cam); return; }  // iPhones: the player
    this.el.requestFullscreen().catch(() => play(this.cam));
  }

  goLive() {
    if (this.live) return;
    this.el.dataset.stream = '';
    this.live = new Live(this.cam, this.video, {
      quiet: true,
      maxDelay: 4000,  // a wall comes back quickly once a camera is back
      iceGraceMs: 4000,  // a busy machine's ICE flaps: the stall check covers real losses
      big: () => document.fullscreenElement === this.el,
      quality: () => this.quality.value,
      onState: (st, text) => this.show(st, text),
      mark: (what) => { this.events.push([now(), what]); if (this.events.length > 200) this.events.shift(); },
      onPlaying: () => { this.el.dataset.stream = this.live ? this.live.kind : ''; },
    });
    this.live.start();
  }

  // The tile's state for people: a stream that dropped (anything but playing after it played
  // or failed once) is framed in red with the reason over its last picture.
  show(st, text) {
    this.el.dataset.state = st;
    this.msg.textContent = text;
    const retrying = this.live && this.live.attempt > 0;
    this.el.classList.toggle('dropped', !['playing', 'idle'].includes(st) &&
      (retrying || st !== 'connecting'));
  }

  goIdle() {
    if (!this.live) return;
    this.live.stop();
    this.live = null;
    this.show('idle', '');
  }

  remove() { this.goIdle(); thumbs.unobserve(this.el); onScreen.unobserve(this.el); this.el.remove(); }

  record() {
    const v = this.video, live = this.live;
    return { camera: keyOf(this.cam), stream: live ? live.kind : null,
      state: live ? live.state : 'idle', since: live ? live.since : null,
      frames: live ? live.frames : 0,
      width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime,
      selected: state.selected.has(keyOf(this.cam)), events: this.events.slice() };
  }
}

// Tiles on screen play, in grid order, up to LIVE_CAP; a tile that leaves the screen stops
// and the next one waiting takes its place. Only cameras the operator reports mounted start
// (a live tile whose camera drops keeps trying by itself).
const onScreen = new IntersectionObserver((entries) => {
  for (const e of entries) if (e.target._tile) e.target._tile.visible = e.isIntersecting;
  scheduleLive();
}, { rootMargin: '100px' });

function scheduleLive() {
  let live = 0;
  for (const el of $('grid').children) {
    const tile = el._tile;
    if (!tile) continue;
    const can = tile.visible && tile.cam.enabled && (tile.live || tile.cam.mounted);
    if (can && live < LIVE_CAP) { live += 1; tile.goLive(); } else { tile.goIdle(); }
  }
}

document.addEventListener('fullscreenchange', () => {
  for (const tile of state.tiles.values()) if (tile.live) tile.live.reconsider();
});

// ---- player ---------------------------------------------------------------------------

function play(cam) {
  stop();
  $('player').hidden = false;
  $('p-title').textContent = `${cam.namespace} / ${cam.name}`;
  $('p-badge').textContent = cam.phase; $('p-badge').className = 'badge ' + cam.phase;
  $('p-quality').disabled = !cam.hasSubstream;
  info(cam, null);
  window.vas.firstFrameMs = undefined;
  if (!cam.enabled || !cam.mounted) {
    say(cam.enabled ? `Camera offline: ${cam.message || cam.reason || 'not mounted yet'}`
      : 'This camera is switched off (spec.enabled is false).');
    window.vas.state = 'offline';
    return;
  }
  const started = performance.now();
  state.player = new Live(cam, $('video'), {
    quiet: false,  // the player follows every Janus event (a camera moving between pods)
    maxDelay: 10000,
    big: () => true,
    quality: () => $('p-quality').value,
    onState: (st, text) => { window.vas.state = st; say(text); },
    mark,
    onPlaying: () => {
      if (window.vas.firstFrameMs === undefined) {
        window.vas.firstFrameMs = Math.round(performance.now() - started);
      }
      info(cam, state.player && state.player.kind);
    },
  });
  state.player.start();
}

function info(cam, kind) {
  const s = (kind === 'sub' ? cam.substream : cam.stream) || {};
  $('p-info').textContent = [cam.location, cam.description, kind && `${kind} stream`,
    s.resolution, s.codec, s.fps && s.fps + ' fps', cam.gateway].filter(Boolean).join(' · ');
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

function stop() {
  const p = state.player;
  state.player = null;
  if (p) p.stop();
  $('video').srcObject = null;
  say('');
}

$('p-close').addEventListener('click', () => { stop(); $('player').hidden = true; });
$('p-full').addEventListener('click', () => $('video').closest('.stage').requestFullscreen());
$('p-snap').addEventListener('click', () => state.player && snapshot(state.player.cam, $('video')));
$('p-quality').addEventListener('change', () => state.player && state.player.reconsider());
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

let refreshing = null;
async function boot() {
  try {
    const me = await (await api('/api/v1/me')).json();
    $('who').textContent = me.devMode ? 'dev mode' : me.username;
    if (me.devMode) notice('Development mode: no sign-in, every camera is visible.');
    const wanted = params.get('play');
    if (wanted) playByName(wanted);  // at once, not after the grid
    await loadGroups();
    await loadCameras();
    clearInterval(refreshing);
    refreshing = setInterval(() => { if (!state.player) refresh(); }, 10000);
  } catch (e) {
    if (e.code !== 401) notice(e.message, 'error');
  }
}
boot();
