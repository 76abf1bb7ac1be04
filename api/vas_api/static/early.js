// Opens the stream of /?play=namespace/name before the rest of the viewer has even loaded:
// this tiny script runs from the page's <head>, so the one signalling request (a handle and a
// Janus session watching the camera, with Janus's offer) is on its way while app.js and the
// style sheet are still being fetched. app.js takes the answer (window.vasEarly) when it
// starts the player; it asks again itself when there is none or it was for another token.
'use strict';
(() => {
  const key = new URLSearchParams(location.search).get('play') || '';
  const parts = key.split('/');
  if (parts.length !== 2 || !parts.every((p) => /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(p))) return;
  const token = sessionStorage.getItem('vas-token') || '';
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const path = `/api/v1/namespaces/${parts[0]}/cameras/${parts[1]}/signalling`;
  const response = fetch(path, { method: 'POST', headers, body: JSON.stringify({ watch: 'main' }) });
  response.catch(() => { /* app.js sees it when it takes the answer */ });
  window.vasEarly = { key, token, kind: 'main', response };
})();
