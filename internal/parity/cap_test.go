package parity

import (
	"testing"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// TestMailCapabilities records which optional rules.Message capabilities
// *mail.Message provides; the MIME, HTML and parse-flag eval functions stay
// false without them (docs/parity.md, "Causes").
func TestMailCapabilities(t *testing.T) {
	var m rules.Message = mail.Parse([]byte("Subject: x\n\nbody\n"), mail.Options{})
	_, parts := m.(rules.PartsMessage)
	_, html := m.(rules.HTMLMessage)
	_, flags := m.(rules.ParseFlagsMessage)
	t.Logf("*mail.Message implements rules.PartsMessage=%v HTMLMessage=%v ParseFlagsMessage=%v", parts, html, flags)
}
