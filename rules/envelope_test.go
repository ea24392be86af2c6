package rules

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// envelopeRules are the stock rules' uses of the pseudo-headers that need
// the relays (72_active.cf's __DOS_RELAYED_EXT and
// HEADER_FROM_DIFFERENT_DOMAINS) with probes of the trust split.
const envelopeRules = `
header RELAYED_EXT   ALL-EXTERNAL =~ /(?:^|\n)[Rr][eE][cC][eE][iI][vV][eE][dD]:\s.+\n[Rr][eE][cC][eE][iI][vV][eE][dD]:\s/s
header EXT_FETCHMAIL ALL-EXTERNAL =~ /fetchmail/
header EXT_MSGID     ALL-EXTERNAL =~ /^Message-I[Dd]:/m
header EXT_RETPATH   ALL-EXTERNAL =~ /^Return-Path:/m
header TR_NTSERVER   ALL-TRUSTED =~ /ntserver1\.tcl/
header TR_YAHOO      ALL-TRUSTED =~ /mx1\.mail\.yahoo/
header UNTR_FETCH    ALL-UNTRUSTED =~ /fetchmail/
header INT_LOCALHOST ALL-INTERNAL =~ /localhost/
header ENV_MINDER    EnvelopeFrom =~ /^cpunks\@waste\.minder\.net$/
header HFDD          eval:check_equal_from_domains()
`

func TestTrustPseudoHeadersAndEnvelopeFrom(t *testing.T) {
	names := []string{"RELAYED_EXT", "EXT_FETCHMAIL", "EXT_MSGID", "EXT_RETPATH", "TR_NTSERVER", "TR_YAHOO", "UNTR_FETCH", "INT_LOCALHOST", "ENV_MINDER", "HFDD"}
	src := envelopeRules
	for _, n := range names {
		src += "score " + n + " 1\n"
	}
	rs, err := LoadString("envelope.cf", src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		opts mail.Options
		want []string
	}{
		// Two relays below the fetchmail handover: SpamAssassin's
		// NO_FM_NAME_IP_HOSTN does not fire because __DOS_RELAYED_EXT does.
		{"00050-spam", mail.Options{}, []string{"RELAYED_EXT", "EXT_MSGID", "TR_NTSERVER", "INT_LOCALHOST"}},
		// No Return-Path: EnvelopeFrom is the untrusted relay's
		// "(envelope-from cpunks@waste.minder.net)", so From's yahoo.com
		// differs (SpamAssassin: HEADER_FROM_DIFFERENT_DOMAINS,
		// FREEMAIL_FORGED_FROMDOMAIN).
		{"01018-spam", mail.Options{}, []string{"RELAYED_EXT", "EXT_MSGID", "INT_LOCALHOST", "ENV_MINDER", "HFDD"}},
		// A known SMTP sender wins over the relays.
		{"01018-spam", mail.Options{EnvelopeFrom: "<amy@mail.yahoo.com>"}, []string{"RELAYED_EXT", "EXT_MSGID", "INT_LOCALHOST"}},
	}
	for _, tt := range tests {
		raw, err := os.ReadFile("testdata/parity/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		res := rs.Eval(context.Background(), FromMail(mail.Parse(raw, tt.opts)), Input{})
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.Rule)
		}
		slices.Sort(got)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s %+v: hits %v, want %v", tt.file, tt.opts, got, want)
		}
	}
}
