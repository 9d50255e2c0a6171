// Package engage keeps what recipients did with a broadcast once it reached
// them: read receipts, reactions, Action.Execute invokes (the acknowledge
// button among them) and replies. The bot endpoint records them; the API
// reads them.
//
// Teams names a message by its conversation and activity id, never by
// broadcast, so each user has an index of the messages sent to them
// (activity id -> broadcast), written when the sender records a send
// (NoteSent). A read receipt says every message at or below its
// lastReadMessageId was read; the user's receipts are kept (as a
// staircase: each one not covered by an earlier-or-equal one), so a send
// recorded after the receipt that covers it is read too, at the receipt's
// time. Each message keeps its earliest read time, so receipts repeated or
// out of order count once.
//
// Every write is a Lua script on one hash tag: the user's ({e:<tenant>:<user>})
// or the broadcast's ({b:<id>}, beside the store's records, which the
// scripts check: only a recipient engages). A receipt touches the user's
// keys, then each broadcast it reads (pipelined), then marks the user's
// entries heard; a failure between leaves them unmarked and the next
// receipt or send tells the broadcasts again, which keep the earliest time.
//
//	{e:<tenant>:<user>}:sent   hash: activity id -> {b: broadcast, t: sent ms, r: read ms heard, o: receipts-on heard}; at most MaxSentPerUser, UserTTL
//	{e:<tenant>:<user>}:rcpt   hash: lastReadMessageId -> ms first received (the staircase); UserTTL
//	{b:<id>}:eng:counts        hash: read, acknowledged, reacted, replied, replies, acted, actions, receipts_on, rx:<type>
//	{b:<id>}:eng:read          hash: user -> read at (ms)
//	{b:<id>}:eng:ack           hash: user -> acknowledged at (ms)
//	{b:<id>}:eng:rxon          hash: user -> 1 (receipts on)
//	{b:<id>}:eng:react         hash: user -> JSON list of reaction types
//	{b:<id>}:eng:act           hash: user -> JSON list of the latest MaxActionsPerRecipient actions
//	{b:<id>}:eng:replied       hash: user -> first reply (ms)
//	{b:<id>}:eng:reply         hash: activity id -> the reply (JSON: user, text, ms)
//	{b:<id>}:eng:reply:at      sorted set by time (ms): the replies' activity ids
//	{b:<id>}:eng:series        hash: r:m:<unix minute>, a:m:<unix minute> -> reads, acknowledgements
//
// A missing receipt means "unknown", never "unread": an admin or the user
// may have turned receipts off. Counts.ReceiptsOn says for how many
// recipients "unread" is known.
package engage
