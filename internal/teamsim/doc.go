// Package teamsim simulates the Microsoft services a Teams broadcast talks
// to: Entra ID's token endpoint, the Graph endpoints that list users and
// install an app, and the Bot Framework Connector that creates 1:1
// conversations and posts messages. It stands in for Microsoft in demos,
// tests and benchmarks, so it follows the documented protocol
// (shared/TEAMS_PROTOCOL.md) closely, enforces the documented limits, and
// keeps a ledger of what it delivered to whom.
//
// # Mounting
//
// Handler serves everything on one http.Handler. Clients are configured
// with these base URLs (HOST is where the handler listens):
//
//	LOGIN_URL       http://HOST/login        POST /login/{tenant}/oauth2/v2.0/token
//	GRAPH_URL       http://HOST/graph/v1.0   users, users/{id|upn}, appCatalogs/teamsApps, users/{id}/teamwork/installedApps
//	BOT_SERVICE_URL http://HOST/connector/   v3/conversations, v3/conversations/{id}/activities[/{activityId}]
//	control         http://HOST/_sim/        ledger, users, deliveries, activities, inject, uninstall, faults, reset, healthz
//	BOT_OPENID_METADATA_URL http://HOST/botframework/v1/.well-known/openidconfiguration
//	BOT_JWKS_URL            http://HOST/botframework/v1/.well-known/keys
//
// With Config.BotEndpoint the simulator posts the bot, as Teams does, a
// signed conversationUpdate after each Graph install (once its chat exists) and an
// installationUpdate remove on each uninstall (botframework.go, botpost.go);
// Close stops those posts. Their serviceUrl, and the metadata's jwks_uri,
// name Config.PublicURL when set (the name the services reach it by, in a
// container network), else the URL the request came in at.
//
// With Config.Engagement as well, the simulator plays the users
// (engage.go): a share of the messages delivered are read, ReadDelay
// later, and of those some are acknowledged (the card's first
// Action.Execute), reacted to or answered; it posts the bot, signed the
// same way, read receipts (users with receipts on only), messageReactions,
// adaptiveCard/action invokes whose answers it judges valid, invalid or
// late (after 5 s), and messages. A scheduler and Concurrency posters do
// it; Close stops them. Sim.Engage posts one on demand. Graph's
// /users/{id}/mailboxSettings gives each user one of Config.TimeZones.
//
// # Population
//
// Each tenant has Config.UsersPerTenant users with random-looking but
// seed-determined ids, names and UPNs, listed in id order. The fractions
// are exact counts (rounded): InstalledFraction of the users have the app
// installed; BlockedFraction of those installed blocked the bot (about
// half of them answer with ConversationBlockedByUser, the others with the
// errorCode 209 MessageWritesBlocked body, see User.BlockShape);
// DisabledFraction of all users are covered by an admin policy that
// disables the bot; 1% are guests (userType Guest, #EXT# UPNs). The same Seed, tenant id and fractions
// always give the same users, and random send faults are drawn from a
// generator per user, so a user's n-th send gets the same fate in every
// run whatever the interleaving of other users.
//
// # Behaviour
//
// Tokens: client credentials of the bot's app (BotAppID, BotAppPassword)
// with scope https://api.botframework.com/.default (tenant botframework.com
// or a configured tenant) or https://graph.microsoft.com/.default (a
// configured tenant, which then decides what Graph calls see). Every
// Connector and Graph call needs an unexpired token of its scope, else 401.
//
// Graph: /users pages with $top (default 100, at most 999) and an absolute
// @odata.nextLink built from the request's Host; /users/{id | upn} (any
// case, with $select) one user or 404; the catalog lookup by
// externalId gives the app's per-tenant catalog id (not the manifest id);
// installing answers 201, then 409 while installed, and creates a new 1:1
// chat whose id the installation's /chat returns once the chat exists:
// ChatReadyDelay plus up to ChatReadyJitter after the install (2-4 s in
// the realistic profile, at once in the zero Config) /chat answers 404
// NotFound, the Connector's create conversation and sends to the chat 403
// ForbiddenOperationException, and the bot is posted its
// conversationUpdate only then. A user covered by an app permission
// policy that blocks the app (DisabledFraction) gets 403 Forbidden from the
// install, in Graph's error shape (Ledger.InstallsForbidden).
//
// Directory (directory.go, groups.go, batch.go): /users/delta rounds (pages
// of Prefer: odata.maxpagesize, default 200), a deltaLink per round, then
// only the users added, changed (full properties of $select) or removed
// ({"id":...,"@removed":{"reason":"deleted"}}) since; an expired or
// foreign token answers 400 syncStateNotFound as Graph does for directory
// objects. AddUser, ChangeUser, RemoveUser and ExpireDeltaTokens (and
// /_sim/directory/...) change it at run time. Groups from Config.Groups,
// with nested groups, serve transitiveMembers/microsoft.graph.user pages
// (users only), and GET /groups lists them (id and displayName, the
// directory sync's group names); GET /users/{id or UPN} and POST /$batch (at most 20 GETs,
// each answered as on its own, without the latency) look users up. The
// simulator supports no $filter on these, and Graph's Prefer:
// return=minimal (changed properties only) is not simulated.
//
// Connector: creating a conversation works for users with the app
// installed (403 ForbiddenOperationException otherwise, 403
// BotDisabledByAdmin for disabled users); sends answer 201 with a new
// activity id, or the 403 of a blocked or disabled user, 403
// BotNotInConversationRoster for a conversation of an installation that was
// removed (Uninstall), 404 ConversationNotFound for an id the simulator
// never issued, 400 BadArgument for an invalid activity and 413
// MessageSizeTooBig above 100 KB counted in UTF-16 code units (102,400).
// Updates and deletes work on messages the bot sent in that conversation.
//
// Limits, each a true sliding window over the requests it accepted (those
// in (now-1s, now]): ConnectorRPS per tenant for every Connector call; with
// ConversationLimits, 7/1 s, 8/2 s, 60/30 s and 1800/h per conversation for
// sends and creates; GraphRPS per tenant for installedApps GETs (the list
// and /chat) and, separately, POSTs. A request over a limit gets 429 with
// Retry-After (whole seconds rounded up, at least 1; Graph may use
// fractional seconds) and the refusing scope stays blocked until then: a
// request to a blocked scope is answered 429 with the time left, and is a
// Retry-After violation if it arrived more than RetryAfterTolerance
// (default 5 ms) after the 429 that set the block left the simulator, that
// is after that 429's own answer latency elapsed; requests that arrived
// before were in flight, and are refused but not counted. Injected 429
// faults with a RetryAfter block the tenant's Connector calls likewise.
//
// Timing (latency.go): a Connector or Graph request first waits a one-way
// network delay, uniform [0, NetworkJitter), and is judged by the limits
// when it ends, so the windows count requests in their order of arrival
// and a client that paces exactly at a limit sees 429s. Its answer's
// latency, Latency plus a uniform [0, LatencyJitter), is drawn on arrival
// and applied after the judgement, so the simulator knows when a 429
// leaves. Config's zero value has no latency at all (fast unit tests);
// Config.Realistic, the default of cmd/teamsim and internal/demo, answers
// in 100 ms ±50% (50 ms plus up to 100 ms) with 3 ms of network jitter.
//
// Faults: Inject queues answers for a user's next Connector sends and
// creates, InjectTenant for the next sends to any user of a tenant (a 429
// with a RetryAfter there is a burst of throttling); ErrorRate and
// PreconditionRate make sends fail with 502/503/504 or 412 after the auth
// and rate-limit checks; SlowRate of the sends are answered
// SlowLatency later still, after the answer (a delivery too) is decided,
// so a client with a shorter timeout sees a timeout for a message the user
// got (counted as UnansweredDeliveries); GatewayDeliveredRate of the 502
// and 504 answers (Fault.Delivered for an injected one) come after the
// message was delivered, as from a gateway that gave up waiting for Teams
// (counted as DeliveredWithError). SetFaults, SetLatency, SetSlow,
// SetGatewayDelivered and POST /_sim/faults change rates and latency at
// run time.
//
// The Ledger counts deliveries (201 sends, and 502/504s that delivered), distinct users reached,
// duplicates (a content hash the user already received: sha256 of the
// text and each attachment's contentType and raw content), 429s,
// Retry-After violations, installs, updates, deletes, requests per endpoint
// kind and answers per status. Reset clears it, not the simulated state.
// UserActivities shows each message a user has as the chat holds it: its
// current content hash, the hashes it had, and whether it was deleted.
//
// # Performance
//
// Lookups go through immutable maps or a sharded map; each rate-limit scope
// and each user has its own small mutex, taken in the fixed order tenant,
// conversation, user and never held while sleeping; counters are atomics;
// request and answer bodies use pooled buffers.
//
// # Deviations from the real services
//
// Where the simulator differs from Microsoft's services, on purpose or
// because the behaviour is undocumented:
//
//   - Tokens are opaque random strings ("sim." prefix), not JWTs. The
//     Connector does not look at the token's tenant. Only client secrets
//     are accepted (no certificates). Tenants are accepted by id or by
//     their simulated domain sim<hex>.onmicrosoft.com.
//   - Token errors follow Entra ID rather than a single code: a wrong or
//     missing secret is 401 invalid_client (AADSTS7000215/7000218), an
//     unknown client id 400 unauthorized_client (AADSTS700016), an unknown
//     grant type 400 unsupported_grant_type, a missing parameter 400
//     invalid_request, an unknown scope 400 invalid_scope, an unknown
//     tenant 400 invalid_request (AADSTS90002). A Graph token for tenant
//     botframework.com is refused (400 invalid_resource) because the
//     simulator has no Graph data for it; Entra would issue a token that is
//     useless for the customer's data.
//   - Only accepted requests count in the sliding windows: 429 answers do
//     not use up capacity. A 429 to a blocked scope says the time left and
//     does not extend the block. Requests that reach a blocked scope until
//     RetryAfterTolerance after the 429 that blocked it left are refused
//     but not counted as violations: a client with several requests in
//     flight cannot stop those it sent before the 429 reached it. Teams
//     does not document how it counts these; the simulator is strict on
//     purpose. An injected fault is decided after the limiter, so an
//     injected 429 counts as accepted in the windows. The per-conversation
//     limit for all bots together (14/1 s, 16/2 s) is not separate: there is
//     one bot, and its own limits are lower.
//   - Graph limits cover only the installedApps GET and POST buckets;
//     /users and the catalog are unlimited (Graph has other, global limits).
//   - Latency is added after the answer is decided (the request is judged
//     at arrival, after the network jitter) and ends early if the client
//     goes away; the network jitter is one-way, before judging only.
//     Neither is seeded. The token endpoint answers at once.
//   - Random faults apply to sends only (not creates, updates or deletes)
//     and come before the blocked, disabled and uninstalled checks and the
//     activity validation.
//   - Activity validation is limited to what a broadcast needs: type must
//     be "message" (Teams also takes typing and other types), there must be
//     text or attachments, attachments need a contentType; card content is
//     not validated. A body over 307,200 bytes is refused with 413 without
//     being read further. An activity with both text and attachments is
//     answered 201 without an id, as Teams splits it into two messages
//     (recorded as one delivery with an empty ActivityID).
//   - Creating a conversation answers 201 the first time per installation
//     and 200 with the same id after that. An unknown tenant or user gets
//     403 ForbiddenOperationException; isGroup gets 400; the bot field is
//     not checked. Members may be given as aadObjectId or as "29:" plus the
//     user's object id (real 29: ids are opaque and pairwise).
//   - Reinstalling after Uninstall makes a new chat id,
//     "19:<user>_<botAppId>.<n>@unq.gbl.spaces" for the n-th installation
//     (the first has no ".<n>"), so that tests can tell old from new; real
//     Teams reuses the same 1:1 chat id. Ids of removed installations keep
//     answering 403 BotNotInConversationRoster. Installation ids are base64
//     of "<user>##<catalog app>" ("##<n>" appended for reinstalls).
//   - Graph /users supports $select, $top and $skiptoken (also without the
//     "$"); $filter, $orderby, $search, $count, $expand and $skip get 400
//     Request_UnsupportedQuery. Without $select it returns Graph's default
//     property set, which does not include userType. Users come in id
//     order. /users/delta, groups and $batch are not simulated (400
//     BadRequest "Resource not found for the segment").
//   - The app is an organization app with a different catalog id in each
//     tenant. installedApps lists only this app (Teams also lists built-in
//     apps). A disabled user's install is refused (403) even when the app
//     is already installed for them. Unknown users and installations give 404 NotFound. Users are
//     never added or removed, and who blocked the bot or is disabled never
//     changes.
//   - Other Connector operations (members, attachments, conversation
//     lists) answer 404 NotFound.
//   - Updates and deletes are subject to the tenant limit and the same 403
//     checks as sends, not to the conversation limits; an activity the bot
//     did not send in that conversation (or deleted) is 404 NotFound. They
//     do not change the recorded deliveries.
//   - Ledger.Status counts the simulated services' answers, not the
//     control endpoints'. Reset is not atomic with requests in flight.
package teamsim
