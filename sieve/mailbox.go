package sieve

// mailboxSpecs registers the commands and tests of mailbox and vnd.dovecot.debug.
func mailboxSpecs(add func(*spec)) {
	// RFC 5490 mailbox.
	add(&spec{name: "mailboxexists", test: true, ext: "mailbox", pos: []posDef{{typ: argStringList, name: "mailbox names"}},
		eval: func(r *run, n *node) (bool, error) {
			for _, m := range r.arg(n, 0) {
				if !r.mailboxExists(m) {
					return false, nil
				}
			}
			return true, nil
		}})
	// Pigeonhole's vnd.dovecot.debug: debug_log writes to the debug log.
	add(&spec{name: "debug_log", ext: "vnd.dovecot.debug", pos: []posDef{{typ: argString, name: "message"}},
		exec: func(r *run, n *node) error {
			r.log.Debug("sieve: debug_log", "script", r.cur.name, "message", r.arg1(n, 0))
			return nil
		}})
}

func (r *run) mailboxExists(name string) bool {
	if r.env.Mailboxes != nil {
		return r.env.Mailboxes.MailboxExists(r.ctx, name)
	}
	return isInbox(name)
}
