package engage

// ukeys are one user's keys: what the bot endpoint looks up by the
// conversation's user, never by broadcast.
type ukeys struct{ sent, rcpt string }

// A user's 1:1 conversation with the bot is the user: Teams may name it by
// its Connector id (a:...) or its Graph chat id (19:...), so the keys are
// the tenant's and the user's, never the conversation id.
func (s *Store) userKeys(tenant, user string) ukeys {
	return ukeys{sent: s.ks.UserKey(tenant, user, "sent"), rcpt: s.ks.UserKey(tenant, user, "rcpt")}
}

// bkeys are a broadcast's engagement keys, beside its records under the
// hash tag {b:<id>}.
type bkeys struct {
	counts, read, ack, rxon, react, act, replied, reply, replyAt, series string
	rec, meta                                                            string // the store's
}

func (s *Store) broadcastKeys(id string) bkeys {
	k := func(name string) string { return s.ks.BroadcastKey(id, "eng:"+name) }
	return bkeys{counts: k("counts"), read: k("read"), ack: k("ack"), rxon: k("rxon"), react: k("react"),
		act: k("act"), replied: k("replied"), reply: k("reply"), replyAt: k("reply:at"), series: k("series"),
		rec: s.ks.RecordKey(id), meta: s.ks.MetaKey(id)}
}
