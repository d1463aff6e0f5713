// The GetActiveSessions DTOs of the published Evo Voice metadata page
// (/work/shared/reference/GetActiveSessions-metadata-page.txt), translated from its
// TypeScript to a JavaScript ES module the way ServiceStack's own `dtos.mjs` generator
// writes them: string enums as frozen objects, classes whose constructor assigns `init`,
// and on request DTOs the `getTypeName()` / `getMethod()` / `createResponse()` methods the
// JsonServiceClient uses to pick the route, the HTTP method and the response type.
//
// Left out: `NodeParameterMap` (on the page, but it references `NodeParameter`, which the
// page does not define, and no session DTO uses it).

export class EntityInfo {
    /** @param {{id?:string,dateCreated?:string,dateLastModified?:string,createdBy?:string,lastModifiedBy?:string}} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?string} The ID of the object */
    id;
    /** @type {?string} The date the object was created */
    dateCreated;
    /** @type {?string} The date the object was last modified */
    dateLastModified;
    /** @type {?string} The user that created this object */
    createdBy;
    /** @type {?string} The user that last modified this object */
    lastModifiedBy;
}

/** @typedef {'None'|'Active'} */
export const SessionDialState = Object.freeze({ None: 'None', Active: 'Active' });

/** @typedef {'Disconnected'|'Ringing'|'Connected'|'Hold'|'Passive'} */
export const SessionCallState = Object.freeze({
    Disconnected: 'Disconnected',
    Ringing: 'Ringing',
    Connected: 'Connected',
    Hold: 'Hold',
    Passive: 'Passive',
});

/** @typedef {'None'|'Queued'|'Ringing'|'Connected'|'Hold'|'Disconnected'} */
export const SessionQueueStates = Object.freeze({
    None: 'None',
    Queued: 'Queued',
    Ringing: 'Ringing',
    Connected: 'Connected',
    Hold: 'Hold',
    Disconnected: 'Disconnected',
});

export class CustomerBreadcrumb {
    /** @param {{id?:string,name?:string}} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?string} */
    id;
    /** @type {?string} */
    name;
}

/** @typedef {'Voice'|'Chat'|'Fax'} */
export const FlowChannels = Object.freeze({ Voice: 'Voice', Chat: 'Chat', Fax: 'Fax' });

/** @typedef {'None'|'Transferring'} */
export const SessionHoldReasons = Object.freeze({ None: 'None', Transferring: 'Transferring' });

export class SessionLogInfo {
    /** @param {{date?:string,message?:string}} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?string} */
    date;
    /** @type {?string} */
    message;
}

/** @typedef {'None'|'Ringing'|'Connected'|'Hold'} */
export const SessionMemberCallState = Object.freeze({
    None: 'None',
    Ringing: 'Ringing',
    Connected: 'Connected',
    Hold: 'Hold',
});

/** @typedef {'None'|'Caller'|'Agent'|'Transfer'} */
export const SessionMemberRoles = Object.freeze({
    None: 'None',
    Caller: 'Caller',
    Agent: 'Agent',
    Transfer: 'Transfer',
});

export class SessionMemberInfo {
    /** @param {Partial<SessionMemberInfo>} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?string} */
    identity;
    /** @type {?string} */
    endpointId;
    /** @type {?string} */
    displayName;
    /** @type {?boolean} */
    isOriginalMember;
    /** @type {?string} */
    avatarUrl;
    /** @type {?{ [index: string]: string; }} */
    applicationData;
    /** @type {?SessionMemberCallState} */
    callState;
    /** @type {?SessionMemberRoles} */
    role;
    /** @type {?string} */
    callSid;
    /** @type {?boolean} */
    muted;
}

/** @typedef {'Incoming'|'Outgoing'} */
export const SessionDirections = Object.freeze({ Incoming: 'Incoming', Outgoing: 'Outgoing' });

export class SessionInfo extends EntityInfo {
    /** @param {Partial<SessionInfo>} [init] */
    // Subclass field declarations reset what super() assigned, hence the second assign.
    constructor(init) { super(init); Object.assign(this, init); }
    /** @type {?SessionDialState} The state of the session */
    dialState;
    /** @type {?SessionCallState} The call state of the session */
    callState;
    /** @type {?SessionQueueStates} The queue state of the session */
    queueState;
    /** @type {?string} The ID of the account associated with the flow */
    accountId;
    /** @type {?string} The name of the account associated with the session */
    accountName;
    /** @type {?string} The ID of the customer this session is associated with */
    customerId;
    /** @type {?CustomerBreadcrumb[]} The customer breadcrumb this session is associated with */
    customerBreadcrumb;
    /** @type {?string} The name of the customer this session is associated with */
    customerName;
    /** @type {?string} The ID of the endpoint associated with this session */
    endpointId;
    /** @type {?string} The name of the endpoint associated with this session */
    endpointName;
    /** @type {?string} The date the call completed */
    dateCompleted;
    /** @type {?string} The destination of the session (e.g. what was entered into the Dial box) */
    destination;
    /** @type {?string} The to address if any */
    toAddress;
    /** @type {?string} The from address if any */
    fromAddress;
    /** @type {?string} The from name if any */
    fromName;
    /** @type {?string} Answered by name (if any) */
    answeredByName;
    /** @type {?string} The ID of the queue member assigned to this call */
    queueMemberId;
    /** @type {?FlowChannels} The flow channel */
    channel;
    /** @type {?boolean} Has the session ended */
    ended;
    /** @type {?string} The outcome of the call */
    outcome;
    /** @type {?string} The twilio Call SID of this session */
    callSid;
    /** @type {?string} Any console data for this session */
    consoleData;
    /** @type {?string} The name of the hold queue for this call */
    holdQueueName;
    /** @type {?string} The user ID who put this call on hold */
    heldByUserId;
    /** @type {?SessionHoldReasons} The reason for the hold */
    holdReason;
    /** @type {?string} The SID of the conference if in a conference call */
    conferenceSid;
    /** @type {?string} The display name for this session */
    displayName;
    /** @type {?SessionLogInfo[]} The log entries for this session */
    log;
    /** @type {?SessionMemberInfo[]} The members of this session */
    members;
    /** @type {?string} The callback number (typically used for SIP to User calls) */
    callbackNumber;
    /** @type {?string} The ID of the endpoint that answered */
    answeredById;
    /** @type {?SessionDirections} Is this session incoming or outgoing? */
    direction;
    /** @type {?string} The phone number that this session is coming from (used with SMS chats) */
    fromPhoneNumber;
    /** @type {?string} The Call SID of the most recently added conference participant */
    mostRecentParticipantCallSid;
    /** @type {?boolean} Was this session missed? */
    wasMissed;
    /** @type {?string} The ring queue that the call is currently in */
    ringQueueId;
}

export class GetActiveSessionsResponse {
    /** @param {{sessions?:SessionInfo[]}} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?SessionInfo[]} */
    sessions;
}

/** Get your active sessions. Will eventually replace GetMySessions */
export class GetActiveSessions {
    constructor(init) { Object.assign(this, init); }
    getTypeName() { return 'GetActiveSessions'; }
    getMethod() { return 'GET'; }
    createResponse() { return new GetActiveSessionsResponse(); }
}

// GetMySessions is not on the page; wire-contract.md: `GET /sessions/my`, "Get all your
// active sessions", the same `{ sessions: SessionInfo[] }` response.
export class GetMySessionsResponse {
    /** @param {{sessions?:SessionInfo[]}} [init] */
    constructor(init) { Object.assign(this, init); }
    /** @type {?SessionInfo[]} */
    sessions;
}

/** Get all your active sessions */
export class GetMySessions {
    constructor(init) { Object.assign(this, init); }
    getTypeName() { return 'GetMySessions'; }
    getMethod() { return 'GET'; }
    createResponse() { return new GetMySessionsResponse(); }
}
