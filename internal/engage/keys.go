package engage

import "github.com/broadcast-dev/broadcast/internal/store"

// ukeys are one user's keys: what the bot endpoint looks up by the
// conversation's user, never by broadcast.
type ukeys struct{ sent, rcpt string }

// A user's 1:1 conversation with the bot is the user: Teams may name it by
// its Connector id (a:...) or its Graph chat id (19:...), so the keys are
// the tenant's and the user's, never the conversation id.
func userKeys(tenant, user string) ukeys {
	p := "{e:" + tenant + ":" + user + "}:"
	return ukeys{sent: p + "sent", rcpt: p + "rcpt"}
}

// bkeys are a broadcast's engagement keys, beside its records under the
// hash tag {b:<id>}.
type bkeys struct {
	counts, read, ack, rxon, react, act, replied, reply, replyAt, series string
	rec, meta                                                            string // the store's
}

func broadcastKeys(id string) bkeys {
	p := "{b:" + id + "}:eng:"
	return bkeys{counts: p + "counts", read: p + "read", ack: p + "ack", rxon: p + "rxon", react: p + "react",
		act: p + "act", replied: p + "replied", reply: p + "reply", replyAt: p + "reply:at", series: p + "series",
		rec: store.RecordKey(id), meta: store.MetaKey(id)}
}
