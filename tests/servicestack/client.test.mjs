// Drives a running sessiond with an unmodified ServiceStack client (`@servicestack/client`,
// version pinned in package.json) and the DTOs of the published metadata page (dtos.mjs).
//
// Run by tests/servicestack_client.rs, which writes the event log these expectations are
// about, starts `sessiond serve` on it and passes:
//   SESSIOND_URL            base URL, e.g. http://127.0.0.1:8123
//   SESSIOND_TOKEN          valid HS256 token, sub U-1, roles ["User"]
//   SESSIOND_BAD_TOKEN      sub U-1, roles ["User"], signed with the wrong key
//   SESSIOND_NOROLE_TOKEN   valid, sub U-1, roles ["Manager"]
//   SESSIOND_EXPIRED_TOKEN  sub U-1, roles ["User"], exp an hour ago
// Standalone: npm ci --prefix tests/servicestack && SESSIOND_URL=... node tests/servicestack/client.test.mjs
//
// Every check runs; failures are listed; the last line is `N passed, M failed`; the exit
// status is non-zero when any check failed.

import assert from 'node:assert/strict';
import { JsonServiceClient, JsonApiClient, ApiResult } from '@servicestack/client';
import {
    GetActiveSessions, GetActiveSessionsResponse, GetMySessions, SessionInfo,
    SessionCallState, SessionMemberRoles,
} from './dtos.mjs';

function env(name) {
    const value = process.env[name];
    if (!value) {
        console.error(`client.test.mjs: environment variable ${name} is not set`);
        process.exit(2);
    }
    return value;
}

const URL_ = env('SESSIOND_URL');
const TOKEN = env('SESSIOND_TOKEN');
const BAD_TOKEN = env('SESSIOND_BAD_TOKEN');
const NOROLE_TOKEN = env('SESSIOND_NOROLE_TOKEN');
const EXPIRED_TOKEN = env('SESSIOND_EXPIRED_TOKEN');

// The same request DTO sent with POST: what a generated DTO marked `IPost` does, and what
// older clients do for every `send()`.
class GetActiveSessionsViaPost extends GetActiveSessions {
    getMethod() { return 'POST'; }
}
class GetMySessionsViaPost extends GetMySessions {
    getMethod() { return 'POST'; }
}

// ---- expectations (the fixture is in tests/servicestack_client.rs) ----

const RFC3339_MILLIS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** S-300: U-1's own session, answered, with a muted member, a breadcrumb and a log entry. */
const S300 = {
    id: 'S-300',
    dateCreated: '2026-11-24T09:00:00.250Z',
    dateLastModified: '2026-11-24T09:00:05.125Z',
    createdBy: 'U-1',
    lastModifiedBy: 'U-9',
    dialState: 'Active',
    callState: 'Connected',
    queueState: 'None',
    accountId: 'A-1',
    accountName: 'Acme',
    customerId: 'C-2',
    customerBreadcrumb: [
        { id: 'C-1', name: 'Acme Corp' },
        { id: 'C-2', name: 'Support' },
    ],
    customerName: 'Support',
    endpointId: 'U-1',
    endpointName: 'Alice Desk',
    toAddress: '+15550199',
    fromAddress: '+15550100',
    fromName: 'Bob Caller',
    answeredByName: 'Alice',
    channel: 'Voice',
    ended: false,
    callSid: 'CA300',
    holdReason: 'None',
    displayName: 'Bob Caller',
    log: [{ date: '2026-11-24T09:00:05.125Z', message: 'Answered by Alice' }],
    members: [
        {
            identity: 'client:bob',
            displayName: 'Bob',
            isOriginalMember: true,
            applicationData: { crmId: '42' },
            callState: 'Connected',
            role: 'Caller',
            callSid: 'CA300-bob',
            muted: false,
        },
        {
            identity: 'agent:U-1',
            endpointId: 'U-1',
            displayName: 'Alice',
            isOriginalMember: false,
            avatarUrl: 'https://example.com/alice.png',
            applicationData: {},
            callState: 'Connected',
            role: 'Agent',
            callSid: 'CA300-alice',
            muted: true,
        },
    ],
    answeredById: 'U-1',
    direction: 'Incoming',
    mostRecentParticipantCallSid: 'CA300-alice',
    wasMissed: false,
};

/** S-100: U-3's session where U-1 is only a (ringing transfer) member. */
const S100 = {
    id: 'S-100',
    dateCreated: '2026-11-24T09:02:00.000Z',
    dateLastModified: '2026-11-24T09:02:01.000Z',
    createdBy: 'U-3',
    lastModifiedBy: 'U-3',
    dialState: 'Active',
    callState: 'Ringing',
    queueState: 'None',
    accountId: 'A-1',
    accountName: 'Acme',
    customerBreadcrumb: [],
    endpointId: 'U-3',
    fromAddress: '+15550100',
    channel: 'Voice',
    ended: false,
    holdReason: 'None',
    log: [],
    members: [
        {
            identity: 'agent:U-1',
            endpointId: 'U-1',
            displayName: 'Alice',
            isOriginalMember: false,
            applicationData: {},
            callState: 'Ringing',
            role: 'Transfer',
            muted: false,
        },
    ],
    direction: 'Incoming',
    wasMissed: false,
};

/** S-200: U-1's own session, just started (same dateCreated as S-100: ordered by id). */
const S200 = {
    id: 'S-200',
    dateCreated: '2026-11-24T09:02:00.000Z',
    dateLastModified: '2026-11-24T09:02:00.000Z',
    createdBy: 'U-1',
    lastModifiedBy: 'U-1',
    dialState: 'Active',
    callState: 'Ringing',
    queueState: 'None',
    accountId: 'A-1',
    accountName: 'Acme',
    customerBreadcrumb: [],
    endpointId: 'U-1',
    fromAddress: '+15550100',
    channel: 'Voice',
    ended: false,
    holdReason: 'None',
    log: [],
    members: [],
    direction: 'Incoming',
    wasMissed: false,
};

/** U-1's active sessions by dateCreated, then id. Not S-400 (U-2's), S-500 (ended), S-600 (U-1 left). */
const EXPECTED = { sessions: [S300, S100, S200] };

/** Asserts a successful sessions response, with field-level checks that fail readably first. */
function assertSessions(response, what) {
    assert.ok(response != null, `${what}: no response`);
    assert.ok(Array.isArray(response.sessions), `${what}: sessions is not an array: ${JSON.stringify(response)}`);
    assert.deepEqual(response.sessions.map(s => s.id), ['S-300', 'S-100', 'S-200'], `${what}: session ids/order`);
    const [s300, s100, s200] = response.sessions;
    assert.equal(s300.callState, SessionCallState.Connected, `${what}: S-300 callState`);
    assert.equal(s300.answeredById, 'U-1', `${what}: S-300 answeredById`);
    assert.deepEqual(s300.members.map(m => [m.identity, m.muted]), [['client:bob', false], ['agent:U-1', true]], `${what}: S-300 members' muted`);
    assert.deepEqual(s300.customerBreadcrumb, S300.customerBreadcrumb, `${what}: S-300 customerBreadcrumb`);
    assert.equal(s300.log.length, 1, `${what}: S-300 log`);
    for (const s of response.sessions) {
        for (const date of [s.dateCreated, s.dateLastModified, ...s.log.map(l => l.date)]) {
            assert.match(date, RFC3339_MILLIS_Z, `${what}: ${s.id} date ${date}`);
        }
        assert.equal('dateCompleted' in s, false, `${what}: ${s.id} has dateCompleted`);
        assert.equal(s.ended, false, `${what}: ${s.id} ended`);
    }
    assert.equal(s100.members[0].role, SessionMemberRoles.Transfer, `${what}: S-100 member role`);
    assert.equal(s200.customerId, undefined, `${what}: S-200 null customerId must be omitted`);
    // And the whole thing, exactly: every property, nulls omitted, enums by name.
    assert.deepEqual(response, EXPECTED, `${what}: full response`);
    // The published DTO classes accept it as generated DTOs do.
    const typed = new GetActiveSessionsResponse({ sessions: response.sessions.map(s => new SessionInfo(s)) });
    assert.equal(typed.sessions[0].id, 'S-300');
    assert.equal(typed.sessions[0].dateCreated, S300.dateCreated, `${what}: EntityInfo members through SessionInfo`);
}

// ---- a tiny runner ----

const results = [];
async function check(name, fn) {
    try {
        await fn();
        results.push({ name, ok: true });
        console.log(`ok   ${name}`);
    } catch (e) {
        results.push({ name, ok: false, e });
        console.log(`FAIL ${name}\n     ${String(e?.stack ?? e).split('\n').join('\n     ')}`);
        if (e && typeof e == 'object' && !(e instanceof Error)) {
            console.log(`     thrown: ${JSON.stringify(e)}`);
        }
    }
}

/** A client that records what it sent and what came back. */
function recording(client) {
    client.sent = [];
    client.statuses = [];
    client.requestFilter = req => client.sent.push(`${req.method} ${new URL(req.url).pathname}`);
    client.responseFilter = res => client.statuses.push({
        status: res.status,
        contentType: res.headers.get('content-type'),
        wwwAuthenticate: res.headers.get('www-authenticate'),
    });
    return client;
}

/** The default 2.x client: basePath `api`, so DTOs go to `/api/{Request}`. */
function apiClient(token) {
    const c = recording(new JsonServiceClient(URL_));
    if (token) c.bearerToken = token;
    return c;
}

/** The classic client: predefined routes `/json/reply/{Request}`. */
function replyClient(token) {
    const c = recording(new JsonServiceClient(URL_).useBasePath(null));
    if (token) c.bearerToken = token;
    return c;
}

const lastStatus = c => c.statuses.at(-1);

// ---- success paths ----

await check('api(GetActiveSessions) -> GET /api/GetActiveSessions', async () => {
    const client = apiClient(TOKEN);
    const result = await client.api(new GetActiveSessions());
    assert.ok(result instanceof ApiResult);
    assert.equal(result.error, undefined, `unexpected error ${JSON.stringify(result.error)}`);
    assert.equal(result.succeeded, true);
    assert.deepEqual(client.sent, ['GET /api/GetActiveSessions']);
    assert.equal(lastStatus(client).status, 200);
    assert.equal(lastStatus(client).contentType, 'application/json; charset=utf-8');
    assertSessions(result.response, 'api GET');
});

await check('api(GetActiveSessions, POST) -> POST /api/GetActiveSessions', async () => {
    const client = apiClient(TOKEN);
    const viaDto = await client.api(new GetActiveSessionsViaPost());
    const viaArg = await client.api(new GetActiveSessions(), undefined, 'POST');
    assert.deepEqual(client.sent, ['POST /api/GetActiveSessions', 'POST /api/GetActiveSessions']);
    assert.equal(viaDto.succeeded, true, `POST via DTO failed: ${JSON.stringify(viaDto.error)}`);
    assert.equal(viaArg.succeeded, true, `POST via arg failed: ${JSON.stringify(viaArg.error)}`);
    assertSessions(viaDto.response, 'api POST (IPost DTO)');
    assertSessions(viaArg.response, 'api POST (method arg)');
});

await check('api(GetMySessions) GET and POST -> /api/GetMySessions', async () => {
    const client = apiClient(TOKEN);
    const get = await client.api(new GetMySessions());
    const post = await client.api(new GetMySessionsViaPost());
    assert.deepEqual(client.sent, ['GET /api/GetMySessions', 'POST /api/GetMySessions']);
    assert.equal(get.succeeded, true, JSON.stringify(get.error));
    assert.equal(post.succeeded, true, JSON.stringify(post.error));
    assertSessions(get.response, 'api GetMySessions GET');
    assertSessions(post.response, 'api GetMySessions POST');
});

await check('JsonApiClient.create: api(GetActiveSessions)', async () => {
    // The factory ServiceStack recommends for new apps: `/api`, no default headers.
    const client = recording(JsonApiClient.create(URL_));
    client.bearerToken = TOKEN;
    const result = await client.api(new GetActiveSessions());
    assert.deepEqual(client.sent, ['GET /api/GetActiveSessions']);
    assert.equal(result.succeeded, true, JSON.stringify(result.error));
    assertSessions(result.response, 'JsonApiClient');
});

await check('get/post/send on the default client -> /api/GetActiveSessions', async () => {
    const client = apiClient(TOKEN);
    assertSessions(await client.get(new GetActiveSessions()), 'get');
    assertSessions(await client.post(new GetActiveSessions()), 'post');
    assertSessions(await client.send(new GetActiveSessions()), 'send');
    assert.deepEqual(client.sent, [
        'GET /api/GetActiveSessions',
        'POST /api/GetActiveSessions',
        'GET /api/GetActiveSessions',
    ]);
});

await check('classic client: get/post/send/api -> /json/reply/GetActiveSessions', async () => {
    const client = replyClient(TOKEN);
    assertSessions(await client.get(new GetActiveSessions()), 'json/reply get');
    assertSessions(await client.post(new GetActiveSessions()), 'json/reply post');
    assertSessions(await client.send(new GetActiveSessionsViaPost()), 'json/reply send (POST)');
    const result = await client.api(new GetActiveSessions());
    assert.equal(result.succeeded, true, JSON.stringify(result.error));
    assertSessions(result.response, 'json/reply api');
    assert.deepEqual(client.sent, [
        'GET /json/reply/GetActiveSessions',
        'POST /json/reply/GetActiveSessions',
        'POST /json/reply/GetActiveSessions',
        'GET /json/reply/GetActiveSessions',
    ]);
    assert.ok(client.statuses.every(s => s.status === 200 && s.contentType === 'application/json; charset=utf-8'),
        JSON.stringify(client.statuses));
});

await check('classic client: GetMySessions get/post -> /json/reply/GetMySessions', async () => {
    const client = replyClient(TOKEN);
    assertSessions(await client.get(new GetMySessions()), 'json/reply GetMySessions get');
    assertSessions(await client.post(new GetMySessions()), 'json/reply GetMySessions post');
    assert.deepEqual(client.sent, ['GET /json/reply/GetMySessions', 'POST /json/reply/GetMySessions']);
});

await check('get(url) on the published routes /sessions/active and /sessions/my (+ .json)', async () => {
    const client = apiClient(TOKEN);
    assertSessions(await client.get('/sessions/active'), '/sessions/active');
    assertSessions(await client.get('/sessions/my'), '/sessions/my');
    assertSessions(await client.get('/sessions/active.json'), '/sessions/active.json');
    assert.deepEqual(client.sent, ['GET /sessions/active', 'GET /sessions/my', 'GET /sessions/active.json']);
});

await check('ss-tok cookie authenticates (the client\'s cookie jar, no bearer token)', async () => {
    const client = apiClient(null);
    client.cookies['ss-tok'] = { name: 'ss-tok', value: TOKEN };
    const result = await client.api(new GetActiveSessions());
    assert.equal(result.succeeded, true, JSON.stringify(result.error));
    assertSessions(result.response, 'ss-tok cookie');
});

// ---- errors ----

const ERRORS = [
    { name: 'bad signature', token: BAD_TOKEN, status: 401, errorCode: 'Unauthorized', message: 'Token is invalid' },
    { name: 'expired', token: EXPIRED_TOKEN, status: 401, errorCode: 'Unauthorized', message: 'Token has expired' },
    { name: 'no User role', token: NOROLE_TOKEN, status: 403, errorCode: 'Forbidden', message: 'Invalid Role' },
    { name: 'no token', token: null, status: 401, errorCode: 'Unauthorized', message: 'Not Authenticated' },
];

for (const e of ERRORS) {
    const status = { errorCode: e.errorCode, message: e.message, errors: [] };

    // api() never throws: it resolves to an ApiResult whose `error` is the ResponseStatus.
    await check(`${e.name}: api() -> ApiResult.error ${e.errorCode} / ${e.message}`, async () => {
        for (const [client, req, route] of [
            [apiClient(e.token), new GetActiveSessions(), 'GET /api/GetActiveSessions'],
            [apiClient(e.token), new GetActiveSessionsViaPost(), 'POST /api/GetActiveSessions'],
            [apiClient(e.token), new GetMySessions(), 'GET /api/GetMySessions'],
            [replyClient(e.token), new GetActiveSessions(), 'GET /json/reply/GetActiveSessions'],
        ]) {
            const result = await client.api(req);
            assert.deepEqual(client.sent, [route]);
            assert.ok(result instanceof ApiResult);
            assert.equal(result.response, undefined, `${route}: response on error: ${JSON.stringify(result.response)}`);
            assert.equal(result.failed, true, `${route}: not failed`);
            assert.equal(result.succeeded, false);
            assert.deepEqual(result.error, status, `${route}: ApiResult.error`);
            assert.equal(result.errorCode, e.errorCode);
            assert.equal(result.errorMessage, e.message);
            assert.equal(result.errorSummary, e.message);
            const seen = lastStatus(client);
            assert.equal(seen.status, e.status, `${route}: HTTP status`);
            assert.equal(seen.contentType, 'application/json; charset=utf-8', `${route}: content type`);
            if (e.status === 401) {
                assert.match(seen.wwwAuthenticate ?? '', /^Bearer /, `${route}: WWW-Authenticate`);
            }
        }
    });

    // get()/post()/send() reject with the error body, `{ responseStatus }`, as parsed.
    await check(`${e.name}: get()/post() reject with { responseStatus: ${e.errorCode} / ${e.message} }`, async () => {
        for (const [client, call, route] of [
            [replyClient(e.token), c => c.get(new GetActiveSessions()), 'GET /json/reply/GetActiveSessions'],
            [replyClient(e.token), c => c.post(new GetActiveSessions()), 'POST /json/reply/GetActiveSessions'],
            [replyClient(e.token), c => c.get(new GetMySessions()), 'GET /json/reply/GetMySessions'],
            [apiClient(e.token), c => c.get(new GetActiveSessions()), 'GET /api/GetActiveSessions'],
            [apiClient(e.token), c => c.get('/sessions/active'), 'GET /sessions/active'],
        ]) {
            await assert.rejects(call(client), thrown => {
                assert.deepEqual(thrown, { responseStatus: status }, `${route}: rejection`);
                return true;
            }, `${route}: did not reject`);
            assert.deepEqual(client.sent, [route]);
            assert.equal(lastStatus(client).status, e.status, `${route}: HTTP status`);
        }
    });
}

// ---- summary ----

const failed = results.filter(r => !r.ok);
if (failed.length > 0) {
    console.log(`\nfailed checks:\n${failed.map(f => `  - ${f.name}: ${f.e?.message ?? f.e}`).join('\n')}`);
}
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exitCode = failed.length > 0 ? 1 : 0;
