// Instrumentation for bench/first_frame.py, added to every page before its own scripts run
// (playwright's add_init_script). It changes nothing the page does; it only notes when things
// happen, on the page's own clock (performance.now(): 0 is the start of the navigation):
//
// - every fetch: method, path, the Janus verb of its body, when it started, when its headers
//   and its body arrived, and whether the answer carried an SDP ("jsep");
// - every RTCPeerConnection: the offer set, the answer made and set, ICE gathering, ICE and
//   DTLS (connectionState) states, the first remote track;
// - the <video id="video">: when a stream is attached, 'playing', and the first frames the
//   compositor presents (requestVideoFrameCallback), each with the time its last packet came.
//
// Everything lands in window.__ff, which the benchmark reads once the video moves.
'use strict';
(() => {
  const now = () => performance.now();
  const ff = window.__ff = { marks: [], requests: [], frames: [] };
  const mark = (what) => ff.marks.push([now(), what]);
  ff.mark = mark;

  const verbOf = (body) => {
    if (typeof body !== 'string') return '';
    try {
      const b = JSON.parse(body);
      const request = b.body && b.body.request ? ':' + b.body.request : '';
      return (b.janus || b.kind || '') + request + (b.jsep || b.answer ? '+sdp' : '');
    } catch (e) { return ''; }
  };
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = new URL(typeof input === 'string' ? input : input.url, location.href);
    const rec = { path: url.pathname, method: (init && init.method) || 'GET',
      verb: verbOf(init && init.body), start: now(), headers: null, end: null, status: 0,
      sdp: false };
    ff.requests.push(rec);
    return fetch.apply(this, arguments).then((res) => {
      rec.headers = now(); rec.status = res.status;
      res.clone().text().then((text) => { rec.end = now(); rec.sdp = text.includes('"sdp"'); },
        () => { rec.end = now(); });
      return res;
    }, (err) => { rec.end = now(); rec.error = String(err); throw err; });
  };

  const proto = RTCPeerConnection.prototype;
  const watched = new WeakSet();
  const watch = (pc) => {
    if (watched.has(pc)) return;
    watched.add(pc);
    mark('pc');
    pc.addEventListener('icegatheringstatechange', () => mark('gather:' + pc.iceGatheringState));
    pc.addEventListener('iceconnectionstatechange', () => mark('ice:' + pc.iceConnectionState));
    pc.addEventListener('connectionstatechange', () => mark('dtls:' + pc.connectionState));
    pc.addEventListener('track', (e) => mark('track:' + e.track.kind));
  };
  const timed = (name, before, after) => {
    const original = proto[name];
    proto[name] = function (...args) {
      watch(this);
      if (before) mark(before);
      const out = original.apply(this, args);
      return out && out.then ? out.then((v) => { mark(after); return v; }) : out;
    };
  };
  timed('setRemoteDescription', 'offer', 'offer:set');
  timed('createAnswer', null, 'answer:made');
  timed('setLocalDescription', null, 'answer:set');

  const src = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'srcObject');
  Object.defineProperty(HTMLMediaElement.prototype, 'srcObject', {
    configurable: true,
    get: src.get,
    set(value) {
      src.set.call(this, value);
      if (this.id !== 'video' || !value || ff.attached) return;
      ff.attached = true;
      mark('attached');
      this.addEventListener('playing', () => mark('playing'), { once: true });
      const frame = (t, meta) => {
        ff.frames.push({ at: t, received: meta.receiveTime ?? null,
          presented: meta.presentedFrames, width: meta.width });
        if (ff.frames.length < 3) this.requestVideoFrameCallback(frame);
      };
      this.requestVideoFrameCallback(frame);
    },
  });
})();
