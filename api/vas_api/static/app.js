// VAS web viewer: camera grid from the facade's API, live WebRTC through the facade's
// Janus signalling proxy. No build step and no library: one request to the facade opens a
// Janus session watching the camera and brings Janus's offer, one more carries the answer
// (ICE candidates in the SDP), and the session's events come by long-poll.
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
// Each Janus session has one HTTP long-poll open for its events, and a browser opens at most six
// connections per host over HTTP/1.1: a wall of nine sessions would leave no connection for
// anything else. So long-polls go through this scheduler: at most POLL_SLOTS at once, and none
// for a tile that plays (it needs no Janus event; a drop shows as a stall or an ICE change).
// A playing tile's session is kept alive with a keepalive instead; when the tile needs events
// again (a drop, a switch of streams) it starts a new session anyway. Aborting a long-poll is
// safe: the facade ends its wait at Janus too, so later events stay queued there.
const POLL_SLOTS = 3;
const KEEPALIVE_MS = 20000;  // Janus drops a session after 60 s without a request
const longPolls = {
  waiting: [],  // {key, url, options}: long-polls asked for, not sent (yet)
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
        if (why === 'parked') this.waiting.unshift(item);  // sent again when unparked
        else if (why !== 'forgotten') item.options.error(String(err.message || err), err);
        this.pump();
      });
  },
  // The session plays: no long-poll any more, a keepalive every KEEPALIVE_MS instead.
  park(key, token, lost) {
    this.quiet.set(key, { token, lost });
    this.active.get(key)?.ctrl.abort('parked');
  },
  // The session is gone: whatever was still asked for it is dropped.
  forget(key) {
    this.quiet.delete(key);
    this.waiting = this.waiting.filter((item) => item.key !== key);
    this.active.get(key)?.ctrl.abort('forgotten');
    this.pump();
  },
  async keepalive() {
    for (const [key, q] of this.quiet) {
      const body = { janus: 'keepalive', transaction: randomTx(), token: q.token };
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

const randomTx = () => Math.random().toString(36).slice(2, 14);

// ---- one live stream ------------------------------------------------------------------

// The bearer token only ever travels in an Authorization header. One call asks for a
// short-lived signalling handle for this camera (what later requests carry in Janus's token
// slot) and a Janus session already watching the stream, with Janus's SDP offer: the facade
// makes the session, attaches the streaming plugin, sends "watch" and waits for the offer
// next to the gateway instead of the page doing it over four round trips.
async function openStream(cam, kind) {
  const path = `/api/v1/namespaces/${encodeURIComponent(cam.namespace)}/cameras/` +
    `${encodeURIComponent(cam.name)}/signalling`;
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  return readOpened(fetch(path, { method: 'POST', headers, body: JSON.stringify({ watch: kind }) }));
}

// The signalling call's answer, or an ApiError with the facade's reason (NotMounted, ...).
async function readOpened(response) {
  const res = await response;
  if (res.status === 401) { askToken(); throw new ApiError(401, 'Sign in to see cameras.'); }
  if (!res.ok) {
    let msg = res.statusText, reason = '';
    try { ({ message: msg, reason } = (await res.json()).error); } catch (e) { /* not JSON */ }
    const err = new ApiError(res.status, msg);
    err.reason = reason;
    throw err;
  }
  return res.json();
}

// One Janus request on an opened stream's session (or handle, with `path`), with the handle.
async function janusPost(opened, path, body) {
  const res = await fetch(`${opened.server}/${opened.session}${path}`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, keepalive: body.janus === 'destroy',
    body: JSON.stringify({ ...body, transaction: randomTx(), token: opened.token }) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || json.janus === 'error') {
    const err = json.error || {};
    throw new ApiError(res.status, err.message || err.reason || `HTTP ${res.status}`);
  }
  return json;
}

// A stream opened before the page knew more than the camera's name (?play=ns/name): the
// player takes it when it starts, so its signalling overlaps the page's other requests.
const early = new Map();  // namespace/name -> {kind, promise}
function openEarly(key, kind) {
  const [namespace, name] = key.split('/');
  const head = window.vasEarly;  // early.js asked already, from the page's <head>
  window.vasEarly = undefined;
  const promise = head && head.key === key && head.kind === kind && head.token === state.token
    ? readOpened(head.response) : openStream({ namespace, name }, kind);
  promise.catch(() => { /* the player sees the error when it takes the promise */ });
  early.set(key, { kind, promise });
}
function takeEarly(cam, kind) {
  const got = early.get(keyOf(cam));
  early.delete(keyOf(cam));
  if (got && got.kind === kind) return got.promise;
  if (got) got.promise.then(closeOpened, () => {});
  return null;
}
function closeOpened(opened) {
  if (opened && opened.session) janusPost(opened, '', { janus: 'destroy' }).catch(() => {});
}

// Resolves when the browser has gathered its ICE candidates (they go in the answer's SDP, so
// no trickle requests follow), or after `ms` with whatever it has (Janus also learns the
// browser's address from its connectivity checks).
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
    setTimeout(resolve, ms);
  });
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
// onState(state, text), mark(what), onPlaying(), player (takes the stream ?play= opened early).
class Live {
  constructor(cam, video, opts) {
    Object.assign(this, { cam, video, opts, attempt: 0, gen: 0, pc: null, opened: null, timer: null,
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
  pick() {
    const q = this.opts.quality();
    const hasSub = this.grant ? this.grant.substreamMountpointId != null : !!this.cam.hasSubstream;
    if (!hasSub || this.noSubUntil > performance.now()) return 'main';
    if (q === 'main' || q === 'sub') return q;
    return this.opts.big() ? 'main' : 'sub';
  }

  // Quality or size changed: switch streams now if another one is wanted.
  reconsider() {
    if (this.stopped || !this.grant || this.timer) return;
    if (this.pick() !== this.kind) this.restart('switch');
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
    const again = (reason, text, st) => { if (current()) this.retry(reason, text, st); };
    this.set('connecting', this.attempt ? 'Reconnecting…' : 'Connecting…');
    this.opts.mark('connect');
    const wanted = this.pick();
    let opened;
    const ready = this.opts.player ? takeEarly(this.cam, wanted) : null;
    try { opened = await (ready || openStream(this.cam, wanted)); } catch (e) {
      if (!current()) return;
      if (e.reason === 'NotMounted') {
        if (wanted === 'sub') {  // the sub-stream is not mounted: play the main one meanwhile
          this.noSubUntil = performance.now() + 60000;
          this.restart('no-substream');
          return;
        }
        // A restarted or drained gateway: the operator mounts the camera again (here or on
        // another pod) within one health interval. Keep trying, slowly.
        again(null, 'Camera offline: not mounted on the gateway. Trying again', 'offline');
        return;
      }
      if (e.code === 403) { this.set('forbidden', `Access denied: ${e.message}`); return; }
      if (e.code === 404) { this.set('offline', e.message); return; }
      if (e.code === 401) { this.set('unauthorized', ''); return; }
      this.retry(e.message); return;
    }
    if (!current()) { closeOpened(opened); return; }
    this.grant = opened;
    if (!opened.offer) {  // not mounted on a live gateway pod yet (or being moved)
      this.retry(null, 'Camera offline: not mounted on any gateway yet. Trying again', 'offline');
      return;
    }
    this.opts.mark('gateway:' + opened.gateway);
    this.kind = opened.stream;
    this.opened = opened;
    this.sessionKey = `${opened.server}/${opened.session}`;
    this.connectTimer = setTimeout(() => {
      if (current() && this.state !== 'playing') { this.opts.mark('stalled'); this.retry('no video'); }
    }, CONNECT_MS);
    this.listen(opened, current, again);
    try { await this.answer(opened, current, again); } catch (e) {
      if (current()) this.fail('WebRTC: ' + (e.message || e), e.code);
    }
  }

  // The browser's side of the connection: answer Janus's offer and send the answer (with the
  // browser's ICE candidates in it) in a "start" request.
  async answer(opened, current, again) {
    const pc = this.pc = new RTCPeerConnection({ iceServers: [] });
    pc.addEventListener('track', (e) => {
      if (e.track.kind !== 'video' || !current()) return;
      this.attached = this.gen;  // only this attempt's picture counts as playing
      this.frames = 0;
      this.video.srcObject = new MediaStream([e.track]);
    });
    pc.addEventListener('iceconnectionstatechange', () => {
      if (!current()) return;
      const s = pc.iceConnectionState;
      this.opts.mark('ice:' + s);
      clearTimeout(this.iceTimer);
      if (s === 'failed' || (s === 'disconnected' && !this.opts.iceGraceMs)) again('ICE ' + s);
      else if (s === 'disconnected') this.iceTimer = setTimeout(() => again('ICE'), this.opts.iceGraceMs);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (!current()) return;
      const s = pc.connectionState;
      if (s === 'connected') this.opts.mark('webrtc:up');
      if (s === 'failed' || s === 'closed') { this.opts.mark('webrtc:down'); again('WebRTC ' + s); }
    });
    await pc.setRemoteDescription(opened.offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc, 300);
    if (!current()) return;
    const jsep = { type: 'answer', sdp: pc.localDescription.sdp, trickle: false };
    await janusPost(opened, '/' + opened.handle, { janus: 'message', body: { request: 'start' }, jsep });
  }

  // The session's events, by long-poll (parked while a quiet tile plays): the stream ending,
  // the gateway hanging up, the mountpoint going away.
  listen(opened, current, again) {
    const next = () => {
      if (!current()) return;
      const url = `${this.sessionKey}?token=${encodeURIComponent(opened.token)}&maxev=5&rid=${Date.now()}`;
      longPolls.request(url, {
        success: (json) => {
          if (!current()) return;
          for (const event of [].concat(json)) this.event(event, again);
          next();
        },
        error: () => again('the gateway lost the session'),
      });
    };
    next();
  }

  event(event, again) {
    if (!event || typeof event !== 'object') return;
    if (event.janus === 'hangup') { this.opts.mark('cleanup'); again('the gateway hung up'); return; }
    if (event.janus === 'error') { again('the session ended'); return; }
    if (event.janus !== 'event') return;
    const msg = (event.plugindata && event.plugindata.data) || {};
    if (msg.error_code === 455) {
      again(null, 'Camera offline: not mounted on the gateway. Trying again', 'offline');
      return;
    }
    if (msg.error) { this.fail(msg.error, msg.error_code); return; }
    const status = msg.result && msg.result.status;
    if (status === 'stopped' || status === 'destroyed') {  // the mountpoint went away
      this.opts.mark('stream:' + status);
      again('the stream ended');
    }
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
    const pc = this.pc;
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

  // Ends the current attempt: whatever the old session still reports is ignored from now on,
  // and the session is destroyed at the gateway (it would count as a viewer for a minute).
  teardown() {
    this.gen += 1;
    clearTimeout(this.connectTimer); clearTimeout(this.iceTimer);
    if (this.sessionKey) longPolls.forget(this.sessionKey);
    this.sessionKey = null;
    const { pc, opened } = this;
    this.pc = null; this.opened = null;
    try { if (pc) pc.close(); } catch (e) { /* closed already */ }
    closeOpened(opened);
  }
}

// A page that goes away ends its sessions at once (keepalive requests outlive the page).
window.addEventListener('pagehide', () => { for (const live of lives) live.teardown(); });

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
  // While the player connects, the wall waits: its tiles would compete with the player's
  // first frame for the browser, the facade and the gateway. It starts once the player plays
  // (or gives up, or is closed).
  const p = state.player;
  if (early.size || (p && !p.stopped && ['idle', 'connecting'].includes(p.state))) return;
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
  showPlayerCamera(cam);
  info(cam, null);
  window.vas.firstFrameMs = undefined;
  if (!cam.enabled || !cam.mounted) {
    takeEarly(cam, null);  // nothing to play: a stream opened early is closed
    say(cam.enabled ? `Camera offline: ${cam.message || cam.reason || 'not mounted yet'}`
      : 'This camera is switched off (spec.enabled is false).');
    window.vas.state = 'offline';
    return;
  }
  const started = performance.now();
  state.player = new Live(cam, $('video'), {
    quiet: false,  // the player follows every Janus event (a camera moving between pods)
    player: true,  // takes the stream ?play= opened early
    maxDelay: 10000,
    big: () => true,
    quality: () => $('p-quality').value,
    onState: (st, text) => { window.vas.state = st; say(text); if (st !== 'connecting') scheduleLive(); },
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

function showPlayerCamera(cam) {
  $('p-title').textContent = `${cam.namespace} / ${cam.name}`;
  $('p-badge').textContent = cam.phase || ''; $('p-badge').className = 'badge ' + (cam.phase || '');
  $('p-quality').disabled = !cam.hasSubstream;
}

function info(cam, kind) {
  const s = (kind === 'sub' ? cam.substream : cam.stream) || {};
  $('p-info').textContent = [cam.location, cam.description, kind && `${kind} stream`,
    s.resolution, s.codec, s.fps && s.fps + ' fps', cam.gateway].filter(Boolean).join(' · ');
}

// ?play=ns/name: the stream is opened first, with nothing but the camera's name, and the player
// starts on its answer; the camera's details (title badge, stream facts) follow once it plays.
// Only when no stream could be opened does the page ask for the camera to say why.
async function playByName(key) {
  const [ns, name] = key.split('/');
  openEarly(key, 'main');  // the player plays the main stream
  const opened = await early.get(key).promise.catch(() => null);
  if (opened && opened.offer && early.has(key)) {
    const cam = { namespace: ns, name, enabled: true, mounted: true, phase: '',
      hasSubstream: opened.substreamMountpointId != null };
    play(cam);
    await playerSettled(3000);
    try {
      const detail = await (await api(`/api/v1/namespaces/${ns}/cameras/${name}`)).json();
      if (state.player && state.player.cam === cam) {
        Object.assign(cam, detail);
        showPlayerCamera(cam);
        info(cam, state.player.kind);
      }
    } catch (e) { /* the player plays; details are for people */ }
    return;
  }
  try {
    const cam = await (await api(`/api/v1/namespaces/${ns}/cameras/${name}`)).json();
    play(cam);
  } catch (e) {
    takeEarly({ namespace: ns, name }, null);  // nothing to play it in
    scheduleLive();
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
  if (p) { p.stop(); scheduleLive(); }
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

// The Manage panel (manage.js) is loaded by this script, after the player's first frame when
// the page opens on one: it asks the facade for the viewer's permissions as it starts.
function loadManage() {
  if (document.getElementById('manage-js')) return;
  const script = document.createElement('script');
  script.id = 'manage-js'; script.src = '/static/manage.js';
  document.body.appendChild(script);
}

// Resolves when the player is no longer connecting (playing, or it could not), or after `ms`.
function playerSettled(ms) {
  return new Promise((resolve) => {
    const started = performance.now();
    const check = () => {
      const st = window.vas.state;
      if (!['idle', 'connecting'].includes(st) || performance.now() - started > ms) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
}

let refreshing = null;
async function boot() {
  // ?play=ns/name: its stream is opened before anything else is asked of the facade, so the
  // first frame waits for no other request.
  const wanted = params.get('play');
  if (wanted) {
    playByName(wanted);
    // The rest of the page (who is signed in, groups, the wall) asks the facade only once the
    // player plays or has given up (at most a few seconds): until then those requests would
    // compete with the player's signalling for the facade and for this page's CPU.
    await playerSettled(3000);
  }
  loadManage();
  try {
    const me = await (await api('/api/v1/me')).json();
    $('who').textContent = me.devMode ? 'dev mode' : me.username;
    if (me.devMode) notice('Development mode: no sign-in, every camera is visible.');
    await loadGroups();
    await loadCameras();
    clearInterval(refreshing);
    refreshing = setInterval(() => { if (!state.player) refresh(); }, 10000);
  } catch (e) {
    if (e.code !== 401) notice(e.message, 'error');
  }
}
boot();
