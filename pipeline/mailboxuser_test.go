package pipeline

import (
	"errors"
	"testing"
)

// TestMailboxUser: the mailbox a recipient is delivered to, as Resolve
// names it in Recipient.User, without a users file or domain list.
func TestMailboxUser(t *testing.T) {
	for _, tc := range []struct {
		addr, delim, want string
	}{
		{"alice@example.test", "+", "alice@example.test"},
		{"Alice+Tag@Example.TEST", "+", "alice@example.test"},
		{"alice+tag@example.test", "", "alice+tag@example.test"},
		{"alice-tag@example.test", "-", "alice@example.test"},
		{`"Alice"@example.test`, "+", "alice@example.test"},
	} {
		got, err := MailboxUser(tc.addr, tc.delim)
		if err != nil || got != tc.want {
			t.Errorf("MailboxUser(%q, %q) = %q, %v, want %q", tc.addr, tc.delim, got, err, tc.want)
		}
		r, err := NewDirectory(DirectoryConfig{MailRoot: t.TempDir(), MailLocation: "%d/%n", RecipientDelimiter: tc.delim}).Resolve(tc.addr)
		if err != nil || r.User != got {
			t.Errorf("Resolve(%q).User = %q, %v, want MailboxUser's %q", tc.addr, r.User, err, got)
		}
	}
	for _, bad := range []string{"alice", "../x@y", "a/b@example.test", "@example.test", "alice@"} {
		if got, err := MailboxUser(bad, "+"); !errors.Is(err, ErrBadAddress) {
			t.Errorf("MailboxUser(%q) = %q, %v, want ErrBadAddress", bad, got, err)
		}
	}
}
