// Compiled by tsc against DTOs that `typescript-ref` downloaded from a running sessiond
// (tests/servicestack_host.rs copies this file next to them as call.ts) and run with node:
// calls GetActiveSessions through @servicestack/client and prints what it got as one JSON
// line for the Rust test to check.
//   SESSIOND_URL, SESSIOND_TOKEN (role User), SESSIOND_ADMIN_TOKEN (role Admin only),
//   SESSIOND_NOROLE_TOKEN (role Manager)
import { JsonServiceClient, JsonApiClient } from '@servicestack/client';
import {
    GetActiveSessions, GetActiveSessionsResponse, GetMySessions, SessionInfo, SessionCallState,
} from './dtos.js';

// Node's `process`, declared here so the test needs no @types/node.
declare const process: { env: Record<string, string | undefined> };

const url = process.env.SESSIOND_URL as string;

function client(token: string): JsonServiceClient {
    const c = new JsonServiceClient(url);
    c.bearerToken = token;
    return c;
}

const out: Record<string, unknown> = {};

// The request DTO says its verb, name and response type.
const request = new GetActiveSessions();
out.method = request.getMethod();
out.typeName = request.getTypeName();

const response: GetActiveSessionsResponse = await client(process.env.SESSIOND_TOKEN as string).get(request);
const first: SessionInfo | undefined = response.sessions[0];
out.ids = response.sessions.map((s: SessionInfo) => s.id);
out.firstCallState = first?.callState;
out.ringing = first?.callState === SessionCallState.Ringing;
out.firstMembers = first?.members.map((m) => [m.identity, m.role, m.muted]);

const api = await JsonApiClient.create(url);
api.bearerToken = process.env.SESSIOND_TOKEN as string;
const result = await api.api(new GetMySessions());
out.apiSucceeded = result.succeeded;
out.apiIds = result.response?.sessions.map((s) => s.id);

const admin = await client(process.env.SESSIOND_ADMIN_TOKEN as string).get(new GetActiveSessions());
out.adminIds = admin.sessions.map((s) => s.id);

try {
    await client(process.env.SESSIOND_NOROLE_TOKEN as string).get(new GetActiveSessions());
    out.noRole = 'no error';
} catch (e: any) {
    out.noRole = [e.responseStatus?.errorCode, e.responseStatus?.message];
}

console.log(JSON.stringify(out));
