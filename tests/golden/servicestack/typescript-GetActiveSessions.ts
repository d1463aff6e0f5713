/* Options:
Date: 2026-11-24 09:15:02
Version: 6.50
Tip: To override a DTO option, remove "//" prefix before updating
BaseUrl: http://sessiond.test

//GlobalNamespace: 
MakePropertiesOptional: True
//AddServiceStackTypes: True
//AddResponseStatus: False
//AddImplicitVersion: 
//AddDescriptionAsComments: True
IncludeTypes: GetActiveSessions.*
//ExcludeTypes: 
//DefaultImports: 
*/


export interface IReturn<T>
{
    createResponse(): T;
}

export class EntityInfo
{
    /**
    * The ID of the object
    */
    // @ApiMember(Description="The ID of the object")
    public id?: string;

    /**
    * The date the object was created
    */
    // @ApiMember(Description="The date the object was created")
    public dateCreated?: string;

    /**
    * The date the object was last modified
    */
    // @ApiMember(Description="The date the object was last modified")
    public dateLastModified?: string;

    /**
    * The user that created this object
    */
    // @ApiMember(Description="The user that created this object")
    public createdBy?: string;

    /**
    * The user that last modified this object
    */
    // @ApiMember(Description="The user that last modified this object")
    public lastModifiedBy?: string;

    public constructor(init?: Partial<EntityInfo>) { (Object as any).assign(this, init); }
}

export enum SessionDialState
{
    None = 'None',
    Active = 'Active',
}

export enum SessionCallState
{
    Disconnected = 'Disconnected',
    Ringing = 'Ringing',
    Connected = 'Connected',
    Hold = 'Hold',
    Passive = 'Passive',
}

export enum SessionQueueStates
{
    None = 'None',
    Queued = 'Queued',
    Ringing = 'Ringing',
    Connected = 'Connected',
    Hold = 'Hold',
    Disconnected = 'Disconnected',
}

export class CustomerBreadcrumb
{
    public id?: string;
    public name?: string;

    public constructor(init?: Partial<CustomerBreadcrumb>) { (Object as any).assign(this, init); }
}

export enum FlowChannels
{
    Voice = 'Voice',
    Chat = 'Chat',
    Fax = 'Fax',
}

export enum SessionHoldReasons
{
    None = 'None',
    Transferring = 'Transferring',
}

export class SessionLogInfo
{
    public date?: string;
    public message?: string;

    public constructor(init?: Partial<SessionLogInfo>) { (Object as any).assign(this, init); }
}

export enum SessionMemberCallState
{
    None = 'None',
    Ringing = 'Ringing',
    Connected = 'Connected',
    Hold = 'Hold',
}

export enum SessionMemberRoles
{
    None = 'None',
    Caller = 'Caller',
    Agent = 'Agent',
    Transfer = 'Transfer',
}

export class SessionMemberInfo
{
    public identity?: string;
    public endpointId?: string;
    public displayName?: string;
    public isOriginalMember?: boolean;
    public avatarUrl?: string;
    public applicationData?: { [index:string]: string; };
    public callState?: SessionMemberCallState;
    public role?: SessionMemberRoles;
    public callSid?: string;
    public muted?: boolean;

    public constructor(init?: Partial<SessionMemberInfo>) { (Object as any).assign(this, init); }
}

export enum SessionDirections
{
    Incoming = 'Incoming',
    Outgoing = 'Outgoing',
}

export class SessionInfo extends EntityInfo
{
    /**
    * The state of the session
    */
    // @ApiMember(Description="The state of the session")
    public dialState?: SessionDialState;

    /**
    * The call state of the session
    */
    // @ApiMember(Description="The call state of the session")
    public callState?: SessionCallState;

    /**
    * The queue state of the session
    */
    // @ApiMember(Description="The queue state of the session")
    public queueState?: SessionQueueStates;

    /**
    * The ID of the account associated with the flow
    */
    // @ApiMember(Description="The ID of the account associated with the flow")
    public accountId?: string;

    /**
    * The name of the account associated with the session
    */
    // @ApiMember(Description="The name of the account associated with the session")
    public accountName?: string;

    /**
    * The ID of the customer this session is associated with
    */
    // @ApiMember(Description="The ID of the customer this session is associated with")
    public customerId?: string;

    /**
    * The customer breadcrumb this session is associated with
    */
    // @ApiMember(Description="The customer breadcrumb this session is associated with")
    public customerBreadcrumb?: CustomerBreadcrumb[];

    /**
    * The name of the customer this session is associated with
    */
    // @ApiMember(Description="The name of the customer this session is associated with")
    public customerName?: string;

    /**
    * The ID of the endpoint associated with this session
    */
    // @ApiMember(Description="The ID of the endpoint associated with this session")
    public endpointId?: string;

    /**
    * The name of the endpoint associated with this session
    */
    // @ApiMember(Description="The name of the endpoint associated with this session")
    public endpointName?: string;

    /**
    * The date the call completed
    */
    // @ApiMember(Description="The date the call completed")
    public dateCompleted?: string;

    /**
    * The destination of the session (e.g. what was entered into the Dial box)
    */
    // @ApiMember(Description="The destination of the session (e.g. what was entered into the Dial box)")
    public destination?: string;

    /**
    * The to address if any
    */
    // @ApiMember(Description="The to address if any")
    public toAddress?: string;

    /**
    * The from address if any
    */
    // @ApiMember(Description="The from address if any")
    public fromAddress?: string;

    /**
    * The from name if any
    */
    // @ApiMember(Description="The from name if any")
    public fromName?: string;

    /**
    * Answered by name (if any)
    */
    // @ApiMember(Description="Answered by name (if any)")
    public answeredByName?: string;

    /**
    * The ID of the queue member assigned to this call
    */
    // @ApiMember(Description="The ID of the queue member assigned to this call")
    public queueMemberId?: string;

    /**
    * The flow channel
    */
    // @ApiMember(Description="The flow channel")
    public channel?: FlowChannels;

    /**
    * Has the session ended
    */
    // @ApiMember(Description="Has the session ended")
    public ended?: boolean;

    /**
    * The outcome of the call
    */
    // @ApiMember(Description="The outcome of the call")
    public outcome?: string;

    /**
    * The twilio Call SID of this session
    */
    // @ApiMember(Description="The twilio Call SID of this session")
    public callSid?: string;

    /**
    * Any console data for this session
    */
    // @ApiMember(Description="Any console data for this session")
    public consoleData?: string;

    /**
    * The name of the hold queue for this call
    */
    // @ApiMember(Description="The name of the hold queue for this call")
    public holdQueueName?: string;

    /**
    * The user ID who put this call on hold
    */
    // @ApiMember(Description="The user ID who put this call on hold")
    public heldByUserId?: string;

    /**
    * The reason for the hold
    */
    // @ApiMember(Description="The reason for the hold")
    public holdReason?: SessionHoldReasons;

    /**
    * The SID of the conference if in a conference call
    */
    // @ApiMember(Description="The SID of the conference if in a conference call")
    public conferenceSid?: string;

    /**
    * The display name for this session
    */
    // @ApiMember(Description="The display name for this session")
    public displayName?: string;

    /**
    * The log entries for this session
    */
    // @ApiMember(Description="The log entries for this session")
    public log?: SessionLogInfo[];

    /**
    * The members of this session
    */
    // @ApiMember(Description="The members of this session")
    public members?: SessionMemberInfo[];

    /**
    * The callback number (typically used for SIP to User calls)
    */
    // @ApiMember(Description="The callback number (typically used for SIP to User calls)")
    public callbackNumber?: string;

    /**
    * The ID of the endpoint that answered
    */
    // @ApiMember(Description="The ID of the endpoint that answered")
    public answeredById?: string;

    /**
    * Is this session incoming or outgoing?
    */
    // @ApiMember(Description="Is this session incoming or outgoing?")
    public direction?: SessionDirections;

    /**
    * The phone number that this session is coming from (used with SMS chats)
    */
    // @ApiMember(Description="The phone number that this session is coming from (used with SMS chats)")
    public fromPhoneNumber?: string;

    /**
    * The Call SID of the most recently added conference participant
    */
    // @ApiMember(Description="The Call SID of the most recently added conference participant")
    public mostRecentParticipantCallSid?: string;

    /**
    * Was this session missed?
    */
    // @ApiMember(Description="Was this session missed?")
    public wasMissed?: boolean;

    /**
    * The ring queue that the call is currently in
    */
    // @ApiMember(Description="The ring queue that the call is currently in")
    public ringQueueId?: string;

    public constructor(init?: Partial<SessionInfo>) { super(init); (Object as any).assign(this, init); }
}

export class GetActiveSessionsResponse
{
    public sessions?: SessionInfo[];

    public constructor(init?: Partial<GetActiveSessionsResponse>) { (Object as any).assign(this, init); }
}

/**
* Get your active sessions. Will eventually replace GetMySessions
*/
// @Route("/sessions/active", "GET")
// @Api(Description="Get your active sessions. Will eventually replace GetMySessions")
export class GetActiveSessions implements IReturn<GetActiveSessionsResponse>
{

    public constructor(init?: Partial<GetActiveSessions>) { (Object as any).assign(this, init); }
    public getTypeName() { return 'GetActiveSessions'; }
    public getMethod() { return 'GET'; }
    public createResponse() { return new GetActiveSessionsResponse(); }
}

