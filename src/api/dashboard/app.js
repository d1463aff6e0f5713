// sessiond live dashboard: the signed-in user's active sessions, kept current by the
// Server-Sent Events of GET /sessions/active/stream.
//
// The token comes from `#token=…` (then kept in the `ss-tok` cookie and dropped from the
// address bar), else that cookie, else the paste box. GET /sessions/active checks it; the
// stream then sends `snapshot` (the whole set, again after any gap), `upsert` (one
// SessionInfo) and `remove` ({id}). All data is written as text nodes, never as HTML.
'use strict';

(() => {
    const COOKIE = 'ss-tok';
    const STREAM_URL = '/sessions/active/stream';
    const SESSIONS_URL = '/sessions/active';
    const SVG_NS = 'http://www.w3.org/2000/svg';
    const HIGHLIGHT_MS = 3200;
    const LEAVE_MS = 900;
    const REOPEN_MIN_MS = 2000;
    const REOPEN_MAX_MS = 30000;

    // ---- elements ----

    const $ = (id) => document.getElementById(id);
    const el = {
        connection: $('connection'),
        connectionLabel: $('connection-label'),
        connectionDetail: $('connection-detail'),
        who: $('who'),
        whoSub: $('who-sub'),
        whoAvatar: $('who-avatar'),
        switchToken: $('switch-token'),
        signOut: $('sign-out'),
        notice: $('notice'),
        noticeTitle: $('notice-title'),
        noticeText: $('notice-text'),
        signin: $('signin'),
        tokenForm: $('token-form'),
        tokenInput: $('token-input'),
        tokenError: $('token-error'),
        cancelToken: $('cancel-token'),
        board: $('board'),
        table: $('sessions'),
        caption: $('sessions-caption'),
        rows: $('rows'),
        count: $('count'),
        empty: $('empty'),
        sumConnected: $('sum-connected'),
        sumRinging: $('sum-ringing'),
        sumHold: $('sum-hold'),
        updated: $('updated'),
        announcer: $('announcer'),
        favicon: $('favicon'),
        clockNote: $('clock-note'),
    };

    // ---- state ----

    /** Session id → SessionInfo, as the stream last said. */
    let sessions = new Map();
    /** Session id → { tr, json } for the rows on screen. */
    const rendered = new Map();
    /** Session id → { tr, timer } for rows fading out after a remove. */
    const leaving = new Map();
    let token = null;
    let subject = null;
    let source = null;
    let reopenTimer = null;
    let reopenDelay = REOPEN_MIN_MS;
    let probing = false;
    let everLive = false;
    let stopped = false;
    /** Server clock minus this browser's, in ms (from the Date header), when it matters. */
    let clockOffset = 0;
    /** Bumped on every (re)start, so late answers of an older start are ignored. */
    let generation = 0;

    // ---- small helpers ----

    function text(node, value) {
        node.textContent = value == null ? '' : String(value);
        return node;
    }

    function make(tag, className, content) {
        const node = document.createElement(tag);
        if (className) node.className = className;
        if (content != null) node.textContent = String(content);
        return node;
    }

    /** Icons: 24×24 stroked paths (after Feather, MIT). */
    const ICONS = {
        voice: ['M22 16.92v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.5 19.5 0 0 1-6-6 19.79 19.79 0 0 1-3.07-8.67A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91a16 16 0 0 0 6 6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7A2 2 0 0 1 22 16.92z'],
        chat: ['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z'],
        fax: ['M6 9V2h12v7', 'M6 18H4a2 2 0 0 1-2-2v-5a2 2 0 0 1 2-2h16a2 2 0 0 1 2 2v5a2 2 0 0 1-2 2h-2', 'M6 14h12v8H6z'],
        incoming: ['M17 7 7 17', 'M17 17H7V7'],
        outgoing: ['M7 17 17 7', 'M7 7h10v10'],
        muted: ['M1 1l22 22', 'M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V4a3 3 0 0 0-5.94-.6', 'M17 16.95A7 7 0 0 1 5 12v-2m14 0v2a7 7 0 0 1-.11 1.23', 'M12 19v4', 'M8 23h8'],
        hold: ['M10 4H6v16h4z', 'M18 4h-4v16h4z'],
        transfer: ['M17 3l4 4-4 4', 'M21 7H9', 'M7 21l-4-4 4-4', 'M3 17h12'],
        ringing: ['M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9', 'M13.73 21a2 2 0 0 1-3.46 0'],
        connected: ['M20 6 9 17l-5-5'],
        queue: ['M8 6h13', 'M8 12h13', 'M8 18h13', 'M3 6h.01', 'M3 12h.01', 'M3 18h.01'],
    };

    function icon(name) {
        const svg = document.createElementNS(SVG_NS, 'svg');
        svg.setAttribute('viewBox', '0 0 24 24');
        svg.setAttribute('class', 'icon icon-' + name);
        svg.setAttribute('aria-hidden', 'true');
        svg.setAttribute('focusable', 'false');
        for (const d of ICONS[name] || []) {
            const path = document.createElementNS(SVG_NS, 'path');
            path.setAttribute('d', d);
            svg.appendChild(path);
        }
        return svg;
    }

    /** A dash for an empty cell, read out as `meaning`. */
    function none(meaning) {
        const span = make('span', 'none');
        span.appendChild(make('span', null, '—')).setAttribute('aria-hidden', 'true');
        span.appendChild(make('span', 'visually-hidden', meaning));
        return span;
    }

    function announce(message) {
        const line = make('p', null, message);
        el.announcer.appendChild(line);
        while (el.announcer.childNodes.length > 5) el.announcer.removeChild(el.announcer.firstChild);
    }

    /** JSON with object keys sorted: equal data compares equal whatever the key order. */
    function canonical(value) {
        return JSON.stringify(value, (key, v) => (v && typeof v === 'object' && !Array.isArray(v)
            ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
            : v));
    }

    function now() {
        return Date.now() + clockOffset;
    }

    // ---- the token ----

    function readCookie() {
        for (const part of document.cookie.split(';')) {
            const eq = part.indexOf('=');
            if (eq < 0) continue;
            if (part.slice(0, eq).trim() === COOKIE) {
                const value = part.slice(eq + 1).trim();
                return value || null;
            }
        }
        return null;
    }

    function writeCookie(value, claims) {
        let cookie = COOKIE + '=' + value + '; path=/; SameSite=Strict';
        if (claims && typeof claims.exp === 'number') {
            const seconds = Math.floor(claims.exp - Date.now() / 1000);
            if (seconds > 0) cookie += '; max-age=' + seconds;
        }
        if (location.protocol === 'https:') cookie += '; Secure';
        document.cookie = cookie;
    }

    function clearCookie() {
        document.cookie = COOKIE + '=; path=/; SameSite=Strict; max-age=0';
    }

    /** The JWT's claims, decoded for display only (the server verifies the signature). */
    function decodeClaims(jwt) {
        const parts = jwt.split('.');
        if (parts.length !== 3) return null;
        try {
            let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
            while (b64.length % 4) b64 += '=';
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const claims = JSON.parse(new TextDecoder().decode(bytes));
            return claims && typeof claims === 'object' ? claims : null;
        } catch {
            return null;
        }
    }

    /** A pasted value as a bare token: trims it and drops a `Bearer ` prefix. */
    function cleanToken(value) {
        return String(value || '').trim().replace(/^bearer\s+/i, '').trim();
    }

    /** The token in `#token=…`, taken out of the address bar so it is not bookmarked or shared. */
    function takeTokenFromFragment() {
        const hash = location.hash.replace(/^#/, '');
        if (!hash) return null;
        const params = new URLSearchParams(hash);
        const value = cleanToken(params.get('token'));
        params.delete('token');
        const rest = params.toString();
        history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
        return value || null;
    }

    // ---- the connection indicator ----

    const STATE_LABELS = {
        connecting: 'Connecting…',
        live: 'Live',
        reconnecting: 'Reconnecting…',
        unauthorized: 'Not signed in',
    };
    const FAVICON_COLORS = {
        connecting: '#7b8798',
        live: '#16a34a',
        reconnecting: '#d97706',
        unauthorized: '#dc2626',
    };

    function setState(state, label, detail) {
        el.connection.dataset.state = state;
        text(el.connectionLabel, label || STATE_LABELS[state]);
        text(el.connectionDetail, detail || '');
        el.connectionDetail.hidden = !detail;
        document.documentElement.dataset.connection = state;
        const svg = '<svg xmlns="' + SVG_NS + '" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#0f1b2d"/>'
            + '<circle cx="8" cy="8" r="4.5" fill="' + FAVICON_COLORS[state] + '"/></svg>';
        el.favicon.href = 'data:image/svg+xml,' + encodeURIComponent(svg);
        updateTitle();
    }

    function updateTitle() {
        const state = el.connection.dataset.state;
        const prefix = state === 'live' ? '(' + sessions.size + ') ' : state === 'unauthorized' ? '' : '… ';
        document.title = prefix + 'Live sessions · sessiond';
    }

    function showNotice(title, message, tone) {
        text(el.noticeTitle, title);
        text(el.noticeText, message);
        el.notice.dataset.tone = tone || 'error';
        el.notice.hidden = false;
    }

    function hideNotice() {
        el.notice.hidden = true;
    }

    // ---- signing in and out ----

    function showSignin(allowCancel, message) {
        el.signin.hidden = false;
        el.cancelToken.hidden = !allowCancel;
        text(el.tokenError, message || '');
        el.tokenInput.value = '';
        el.tokenInput.focus();
    }

    function hideSignin() {
        el.signin.hidden = true;
        text(el.tokenError, '');
    }

    function showUser(claims) {
        subject = claims && typeof claims.sub === 'string' ? claims.sub : null;
        const name = claims && typeof claims.name === 'string' ? claims.name : null;
        text(el.whoSub, subject || 'unknown user');
        text(el.whoAvatar, initials(name || subject || '?'));
        const details = [];
        if (name) details.push(name);
        if (claims && typeof claims.exp === 'number') {
            details.push('token expires ' + new Date(claims.exp * 1000).toLocaleString());
        }
        el.who.title = details.join(' · ');
        el.who.hidden = false;
        el.switchToken.hidden = false;
        el.signOut.hidden = false;
    }

    function hideUser() {
        subject = null;
        el.who.hidden = true;
        el.switchToken.hidden = true;
        el.signOut.hidden = true;
    }

    function initials(name) {
        const words = String(name).replace(/^[A-Za-z]+[-:]/, '').split(/[\s._@-]+/).filter(Boolean);
        const letters = words.slice(0, 2).map((w) => w[0]).join('');
        return (letters || String(name).slice(0, 2)).toUpperCase();
    }

    /** Stops the stream and every timer; nothing retries until the next start. */
    function stop() {
        stopped = true;
        generation++;
        if (source) {
            source.close();
            source = null;
        }
        clearTimeout(reopenTimer);
        reopenTimer = null;
        probing = false;
    }

    /** Stops for good: shows why (unless signing out) and asks for a token. */
    function unauthorized(title, message) {
        stop();
        const signedOut = title === 'Signed out';
        setState('unauthorized', signedOut ? 'Signed out' : 'Not authorized');
        if (signedOut) hideNotice();
        else showNotice(title, message, 'error');
        el.who.hidden = true;
        el.switchToken.hidden = true;
        el.board.hidden = true;
        showSignin(false);
    }

    function signOut() {
        clearCookie();
        token = null;
        hideUser();
        replaceAll([]);
        unauthorized('Signed out', '');
    }

    /** Signs in with `value` (from the fragment, the cookie or the paste box) and connects. */
    function start(value) {
        stop();
        stopped = false;
        const myGeneration = ++generation;
        token = value;
        const claims = decodeClaims(value);
        writeCookie(value, claims);
        hideSignin();
        hideNotice();
        showUser(claims);
        el.board.hidden = false;
        everLive = false;
        reopenDelay = REOPEN_MIN_MS;
        replaceAll([]);
        setState('connecting');
        validate(myGeneration);
    }

    /** GET /sessions/active: a clear message on 401/403, else on to the stream. */
    async function validate(myGeneration) {
        let response;
        try {
            response = await fetch(SESSIONS_URL, {
                headers: { Accept: 'application/json' },
                credentials: 'same-origin',
                cache: 'no-store',
            });
        } catch (e) {
            if (myGeneration !== generation) return;
            // The service is unreachable: let the stream's own retries find it.
            setState('reconnecting', null, 'service unreachable');
            openStream(myGeneration);
            return;
        }
        if (myGeneration !== generation) return;
        learnClock(response);
        if (response.status === 401 || response.status === 403) {
            const reason = await errorMessage(response);
            if (myGeneration !== generation) return;
            unauthorized(response.status === 401 ? 'Your token was refused' : 'Your token lacks the User role',
                reason);
            return;
        }
        if (response.ok && !everLive) {
            // Show what the service holds now; the stream's snapshot replaces it.
            try {
                const body = await response.json();
                if (myGeneration === generation && !everLive && body && Array.isArray(body.sessions)) {
                    replaceAll(body.sessions);
                }
            } catch {
                // Not JSON: the stream's snapshot will do.
            }
        } else if (!response.ok) {
            showNotice('The service answered ' + response.status, 'Trying the live stream anyway.', 'warning');
        }
        if (myGeneration === generation) openStream(myGeneration);
    }

    /** The ServiceStack error's message, or the status text. */
    async function errorMessage(response) {
        try {
            const body = await response.json();
            const status = body && (body.responseStatus || body.ResponseStatus);
            if (status && status.message) return status.message + '.';
        } catch {
            // Not a JSON error body.
        }
        return 'HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : '') + '.';
    }

    /** Notes the server's clock from the Date header, so durations agree with it. */
    function learnClock(response) {
        const date = Date.parse(response.headers.get('Date') || '');
        if (Number.isNaN(date)) return;
        const offset = date - Date.now();
        // The header has whole seconds: only correct an offset that is clearly real.
        clockOffset = Math.abs(offset) > 2000 ? offset : 0;
        text(el.clockNote, clockOffset
            ? 'This computer\'s clock is ' + Math.round(Math.abs(clockOffset) / 1000) + ' s '
                + (clockOffset > 0 ? 'behind' : 'ahead of') + ' the service; times use the service\'s.'
            : '');
    }

    // ---- the stream ----

    function openStream(myGeneration) {
        if (stopped || myGeneration !== generation) return;
        if (source) source.close();
        const es = new EventSource(STREAM_URL);
        source = es;
        es.addEventListener('snapshot', (event) => {
            if (source !== es) return;
            const body = parse(event, es);
            if (!body) return;
            replaceAll(Array.isArray(body.sessions) ? body.sessions : []);
            reopenDelay = REOPEN_MIN_MS;
            everLive = true;
            hideNotice();
            setState('live');
        });
        es.addEventListener('upsert', (event) => {
            if (source !== es) return;
            const session = parse(event, es);
            if (!session || typeof session.id !== 'string') return;
            const isNew = !sessions.has(session.id);
            sessions.set(session.id, session);
            render(new Set([session.id]));
            if (isNew) announce('New ' + channelLabel(session.channel).toLowerCase() + ' session: ' + whoName(session) + '.');
        });
        es.addEventListener('remove', (event) => {
            if (source !== es) return;
            const body = parse(event, es);
            if (!body || typeof body.id !== 'string') return;
            const session = sessions.get(body.id);
            if (!session) return;
            sessions.delete(body.id);
            render(new Set());
            announce('Session ended: ' + whoName(session) + '.');
        });
        es.addEventListener('end', (event) => {
            // The service ended the stream and says why.
            if (source !== es) return;
            const body = parse(event, es);
            if (!body) return;
            if (body.reason === 'shutdown') {
                // This replica is restarting: the browser reconnects by itself (retry: 500),
                // through the balancer to another one.
                setState('reconnecting', null, 'the service is restarting');
                return;
            }
            es.close();
            source = null;
            if (body.reason === 'token-expired') {
                // An EventSource cannot change its credentials: the probe gets the 401 and
                // asks for a new token.
                probe(myGeneration);
            } else {
                // stream-limit: reconnecting would only close another tab's stream.
                setState('reconnecting', 'Closed', 'too many open streams');
                showNotice('Live updates stopped in this tab', (body.message || '')
                    + ' Reload the page to take the stream back.', 'warning');
            }
        });
        es.addEventListener('open', () => {
            // A reconnect the browser made itself (it sent Last-Event-ID): the service either
            // resumes after that id or sends a fresh snapshot; either way the table is live.
            // The first connection waits for its snapshot.
            if (source === es && everLive) {
                hideNotice();
                setState('live');
            }
        });
        es.addEventListener('error', () => {
            if (source !== es || stopped) return;
            if (es.readyState === EventSource.CLOSED) {
                // The browser gave up (an HTTP error or not an event stream): find out why.
                source = null;
                setState('reconnecting');
                probe(myGeneration);
            } else {
                // The connection dropped: EventSource retries by itself (retry: 2000).
                setState('reconnecting', null, everLive ? 'showing the last known state' : '');
            }
        });
    }

    /** A message's JSON, or null after starting over (a bad message means the table may be wrong). */
    function parse(event, es) {
        try {
            return JSON.parse(event.data);
        } catch (e) {
            console.error('sessiond: unreadable ' + event.type + ' message', e);
            es.close();
            source = null;
            setState('reconnecting', null, 'resynchronising');
            scheduleReopen(generation);
            return null;
        }
    }

    /**
     * After the browser closed the stream: asks the stream itself what is wrong, without
     * reading it. 401/403 stops for good (with the service's reason); anything else retries
     * with a growing delay.
     */
    async function probe(myGeneration) {
        if (probing) return;
        probing = true;
        const abort = new AbortController();
        let status = 0;
        let reason = '';
        try {
            const response = await fetch(STREAM_URL, {
                headers: { Accept: 'text/event-stream' },
                credentials: 'same-origin',
                cache: 'no-store',
                signal: abort.signal,
            });
            status = response.status;
            if (status === 401 || status === 403) reason = await errorMessage(response);
        } catch {
            status = 0;
        } finally {
            abort.abort();
            probing = false;
        }
        if (myGeneration !== generation || stopped) return;
        if (status === 401 || status === 403) {
            unauthorized(status === 401 ? 'Your token was refused' : 'Your token lacks the User role', reason);
            return;
        }
        const detail = status === 0 ? 'service unreachable'
            : status === 200 ? 'stream interrupted'
            : 'stream answered HTTP ' + status;
        setState('reconnecting', null, detail);
        if (status !== 0 && status !== 200 && !everLive) {
            showNotice('Live updates are unavailable', 'The stream answered HTTP ' + status
                + '. Retrying; the table shows the sessions as loaded.', 'warning');
        }
        scheduleReopen(myGeneration);
    }

    function scheduleReopen(myGeneration) {
        clearTimeout(reopenTimer);
        const delay = reopenDelay;
        reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX_MS);
        reopenTimer = setTimeout(() => openStream(myGeneration), delay);
    }

    // ---- the table ----

    function replaceAll(list) {
        const previous = sessions;
        sessions = new Map();
        for (const s of list) {
            if (s && typeof s.id === 'string') sessions.set(s.id, s);
        }
        // A resync highlights what changed across the gap; the first load highlights nothing.
        const changed = new Set();
        if (everLive || previous.size) {
            for (const [id, s] of sessions) {
                const before = previous.get(id);
                if (!before || canonical(before) !== canonical(s)) changed.add(id);
            }
        }
        render(changed);
    }

    function compareSessions(a, b) {
        const ta = Date.parse(a.dateCreated || '');
        const tb = Date.parse(b.dateCreated || '');
        const na = Number.isNaN(ta) ? Infinity : ta;
        const nb = Number.isNaN(tb) ? Infinity : tb;
        if (na !== nb) return na < nb ? -1 : 1;
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    }

    /** Brings the rows in line with `sessions`; `highlight` names the ids to flash. */
    function render(highlight) {
        const list = [...sessions.values()].sort(compareSessions);
        let cursor = el.rows.firstChild;
        for (const session of list) {
            const json = canonical(session);
            let entry = rendered.get(session.id);
            const fresh = !entry;
            if (fresh) {
                dropLeaving(session.id);
                entry = { tr: make('tr', 'session'), json: null };
                entry.tr.dataset.sessionId = session.id;
                rendered.set(session.id, entry);
            }
            if (entry.json !== json) {
                fillRow(entry.tr, session);
                entry.json = json;
                if (highlight.has(session.id)) flash(entry.tr, fresh ? 'is-new' : 'is-changed');
            }
            while (cursor && cursor.classList.contains('is-leaving')) cursor = cursor.nextSibling;
            if (cursor === entry.tr) cursor = cursor.nextSibling;
            else el.rows.insertBefore(entry.tr, cursor);
        }
        for (const [id, entry] of rendered) {
            if (!sessions.has(id)) {
                rendered.delete(id);
                leave(id, entry.tr);
            }
        }
        updateCounts(list);
        tick();
    }

    function flash(tr, className) {
        tr.classList.remove('is-new', 'is-changed');
        void tr.offsetWidth; // restart the animation
        tr.classList.add(className);
        clearTimeout(tr.flashTimer);
        tr.flashTimer = setTimeout(() => tr.classList.remove(className), HIGHLIGHT_MS);
    }

    function leave(id, tr) {
        tr.classList.remove('is-new', 'is-changed');
        tr.classList.add('is-leaving');
        tr.setAttribute('aria-hidden', 'true');
        const timer = setTimeout(() => dropLeaving(id), LEAVE_MS);
        leaving.set(id, { tr, timer });
    }

    function dropLeaving(id) {
        const gone = leaving.get(id);
        if (!gone) return;
        clearTimeout(gone.timer);
        gone.tr.remove();
        leaving.delete(id);
    }

    function updateCounts(list) {
        const n = list.length;
        el.table.dataset.count = String(n);
        text(el.count, n);
        text(el.caption, n === 1 ? '1 active session' : n + ' active sessions');
        el.empty.hidden = n > 0;
        el.table.classList.toggle('is-empty', n === 0);
        let connected = 0;
        let ringing = 0;
        let hold = 0;
        for (const s of list) {
            if (s.callState === 'Connected') connected++;
            else if (s.callState === 'Ringing') ringing++;
            else if (s.callState === 'Hold') hold++;
        }
        text(el.sumConnected, connected);
        text(el.sumRinging, ringing);
        text(el.sumHold, hold);
        const at = new Date();
        el.updated.dateTime = at.toISOString();
        text(el.updated, at.toLocaleTimeString());
        updateTitle();
    }

    // ---- one row ----

    function cell(label, className) {
        const td = make('td', className);
        td.dataset.label = label;
        return td;
    }

    function fillRow(tr, s) {
        tr.replaceChildren(
            whoCell(s),
            directionCell(s),
            channelCell(s),
            stateCell(s),
            queueCell(s),
            membersCell(s),
            timeCell(s),
        );
        tr.dataset.callState = s.callState || '';
        tr.title = 'Session ' + s.id;
    }

    function whoName(s) {
        return s.fromName || s.displayName || s.fromAddress || s.customerName || s.toAddress || s.id;
    }

    function whoCell(s) {
        const td = cell('Who', 'col-who');
        const th = make('div', 'party-name', whoName(s));
        td.appendChild(th);
        const route = make('div', 'party-route');
        const from = s.fromAddress || s.fromPhoneNumber;
        const to = s.toAddress || s.destination;
        if (from || to) {
            route.appendChild(make('span', 'addr', from || '—'));
            route.appendChild(make('span', 'arrow', ' → '));
            route.appendChild(make('span', 'addr', to || '—'));
            td.appendChild(route);
        }
        const extra = [];
        if (s.displayName && s.displayName !== whoName(s)) extra.push(s.displayName);
        if (s.customerName) extra.push(s.customerName);
        else if (s.accountName) extra.push(s.accountName);
        extra.push(s.id);
        td.appendChild(make('div', 'party-meta', extra.join(' · ')));
        return td;
    }

    function directionCell(s) {
        const td = cell('Direction', 'col-direction');
        const outgoing = s.direction === 'Outgoing';
        const tag = make('span', 'tag direction ' + (outgoing ? 'is-outgoing' : 'is-incoming'));
        tag.appendChild(icon(outgoing ? 'outgoing' : 'incoming'));
        tag.appendChild(make('span', null, outgoing ? 'Outgoing' : s.direction === 'Incoming' ? 'Incoming' : (s.direction || '—')));
        td.appendChild(tag);
        return td;
    }

    function channelLabel(channel) {
        return channel === 'Chat' ? 'Chat' : channel === 'Fax' ? 'Fax' : channel === 'Voice' ? 'Voice' : (channel || 'Session');
    }

    function channelCell(s) {
        const td = cell('Channel', 'col-channel');
        const name = (s.channel || 'voice').toLowerCase();
        const tag = make('span', 'tag channel channel-' + name);
        tag.appendChild(icon(ICONS[name] ? name : 'voice'));
        tag.appendChild(make('span', null, channelLabel(s.channel)));
        td.appendChild(tag);
        return td;
    }

    function userLabel(userId) {
        return userId && userId === subject ? 'you' : userId;
    }

    function stateCell(s) {
        const td = cell('State', 'col-state');
        const state = s.callState || 'Disconnected';
        let label = state;
        let kind = state.toLowerCase();
        let iconName = null;
        if (state === 'Hold') {
            if (s.holdReason === 'Transferring') {
                label = 'Transferring';
                kind = 'transferring';
                iconName = 'transfer';
            } else {
                label = 'On hold';
                iconName = 'hold';
            }
        } else if (state === 'Connected') {
            iconName = 'connected';
        } else if (state === 'Ringing') {
            iconName = 'ringing';
        }
        const badge = make('span', 'badge state-' + kind);
        if (iconName) badge.appendChild(icon(iconName));
        badge.appendChild(make('span', null, label));
        td.appendChild(badge);
        const details = [];
        if (state === 'Hold') {
            if (s.heldByUserId) details.push('by ' + userLabel(s.heldByUserId));
            if (s.holdQueueName) details.push('in ' + s.holdQueueName);
        } else if (state === 'Connected' && (s.answeredByName || s.answeredById)) {
            details.push('answered by ' + (s.answeredById && s.answeredById === subject ? 'you' : (s.answeredByName || s.answeredById)));
        }
        if (details.length) td.appendChild(make('div', 'cell-detail', details.join(' · ')));
        return td;
    }

    function queueCell(s) {
        const td = cell('Queue', 'col-queue');
        const state = s.queueState || 'None';
        if (state === 'None') {
            td.appendChild(none('Not queued'));
        } else {
            const badge = make('span', 'badge queue-' + state.toLowerCase());
            badge.appendChild(make('span', null, state));
            td.appendChild(badge);
        }
        if (s.ringQueueId) td.appendChild(make('div', 'cell-detail', s.ringQueueId));
        if (s.holdQueueName) td.appendChild(make('div', 'cell-detail', 'hold queue: ' + s.holdQueueName));
        return td;
    }

    function membersCell(s) {
        const td = cell('Members', 'col-members');
        const members = Array.isArray(s.members) ? s.members : [];
        if (!members.length) {
            td.appendChild(none('No members'));
            return td;
        }
        const ul = make('ul', 'members');
        for (const m of members) {
            const li = make('li', 'member');
            const memberState = m.callState || 'None';
            li.dataset.memberState = memberState;
            const you = m.endpointId && m.endpointId === subject;
            if (you) li.classList.add('is-you');
            const label = m.displayName || m.identity || m.endpointId || 'unknown';
            const nameWrap = make('span', 'member-name-wrap');
            const name = make('span', 'member-name', you ? 'You' : label);
            name.title = you ? label + ' (you)' : (m.identity || label);
            nameWrap.appendChild(name);
            if (m.muted) {
                const muted = make('span', 'member-muted');
                muted.appendChild(icon('muted'));
                muted.appendChild(make('span', null, 'Muted'));
                nameWrap.appendChild(muted);
            }
            li.appendChild(nameWrap);
            if (m.role && m.role !== 'None') li.appendChild(make('span', 'member-role', m.role));
            li.appendChild(make('span', 'member-state member-state-' + memberState.toLowerCase(),
                memberState === 'None' ? 'No state' : memberState === 'Hold' ? 'On hold' : memberState));
            ul.appendChild(li);
        }
        td.appendChild(ul);
        return td;
    }

    function timeCell(s) {
        const td = cell('Time', 'col-time');
        const started = Date.parse(s.dateCreated || '');
        const time = make('time', 'elapsed');
        if (!Number.isNaN(started)) {
            time.dateTime = s.dateCreated;
            time.dataset.started = String(started);
            time.title = 'Started ' + new Date(started).toLocaleString();
        }
        td.appendChild(time);
        return td;
    }

    // ---- the clock ----

    function formatElapsed(ms) {
        const total = Math.max(0, Math.floor(ms / 1000));
        const h = Math.floor(total / 3600);
        const m = Math.floor((total % 3600) / 60);
        const sec = total % 60;
        const two = (n) => (n < 10 ? '0' : '') + n;
        return h ? h + ':' + two(m) + ':' + two(sec) : m + ':' + two(sec);
    }

    function tick() {
        const at = now();
        for (const time of el.rows.querySelectorAll('time.elapsed[data-started]')) {
            const value = formatElapsed(at - Number(time.dataset.started));
            if (time.textContent !== value) time.textContent = value;
        }
    }

    // ---- wiring ----

    el.tokenForm.addEventListener('submit', (event) => {
        event.preventDefault();
        const value = cleanToken(el.tokenInput.value);
        if (!value) {
            text(el.tokenError, 'Paste a token first.');
            return;
        }
        if (!decodeClaims(value)) {
            text(el.tokenError, 'That does not look like a JWT (three base64url parts separated by dots).');
            return;
        }
        start(value);
    });
    el.cancelToken.addEventListener('click', hideSignin);
    el.switchToken.addEventListener('click', () => showSignin(Boolean(token)));
    el.signOut.addEventListener('click', signOut);
    document.addEventListener('keydown', (event) => {
        if (event.key === 'Escape' && !el.signin.hidden && !el.cancelToken.hidden) hideSignin();
    });

    setInterval(tick, 1000);

    const initial = takeTokenFromFragment() || readCookie();
    if (initial) {
        start(initial);
    } else {
        hideUser();
        setState('unauthorized', 'Not signed in');
        el.board.hidden = true;
        showSignin(false);
    }
})();
