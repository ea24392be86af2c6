package parity

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

// Sluice runs sluice's rules in-process as `sluice check -dns off` does.
type Sluice struct {
	rs   *rules.Ruleset
	conf rules.Config
}

// LoadSluice loads dirs with the options cmd/sluice's loadRules uses when
// authentication is off (no network score set, the default plugins plus
// the Dmarc alias and Bayes, whose rules never fire without a probability), followed by LocalCF so that required_score and the
// other local settings match spamd's.
func LoadSluice(dirs []string, localCF string, log *slog.Logger) (*Sluice, error) {
	// The budget is a minute rather than the default 2 s: parity compares
	// the rules' semantics, and on the loaded shared machine a long message
	// could otherwise run out of time and lose its body rules (e.g.
	// EMPTY_MESSAGE firing for want of __NONEMPTY_BODY).
	opt := rules.Options{Logger: log, Net: false, Plugins: rules.DefaultPlugins(), Budget: time.Minute}
	opt.Plugins["Mail::SpamAssassin::Plugin::Dmarc"] = true
	opt.Plugins["Mail::SpamAssassin::Plugin::Bayes"] = true
	all := append([]string{}, dirs...)
	if localCF != "" {
		all = append(all, localCF)
	}
	rs, err := rules.Load(all, opt)
	if err != nil {
		return nil, fmt.Errorf("parity: sluice: %w", err)
	}
	return &Sluice{rs: rs, conf: rs.Config()}, nil
}

// Ruleset returns the loaded rules.
func (s *Sluice) Ruleset() *rules.Ruleset { return s.rs }

// Check scores msg.
func (s *Sluice) Check(ctx context.Context, msg []byte) Verdict {
	res := s.rs.Eval(ctx, rules.FromMail(mail.Parse(msg, mail.Options{})), rules.Input{})
	v := scoring.Decide(res, s.conf)
	out := Verdict{Score: v.Score, Spam: v.Spam, Hits: map[string]float64{}}
	for _, h := range v.Hits {
		out.Hits[h.Rule] = h.Score
	}
	return out
}

// Active reports which of names sluice can fire (active, non-zero score):
// it evaluates an empty message with every name forced on through
// rules.Input.Rules, which the engine honours only for active rules.
func (s *Sluice) Active(names []string) map[string]bool {
	in := rules.Input{Rules: map[string]bool{}}
	for _, n := range names {
		in.Rules[n] = true
	}
	pm := mail.Parse([]byte("Subject: probe\n\nprobe\n"), mail.Options{})
	res := s.rs.Eval(context.Background(), pm, in)
	out := map[string]bool{}
	for _, h := range res.Hits {
		if h.Score != 0 && !strings.HasPrefix(h.Rule, "__") {
			out[h.Rule] = true
		}
	}
	return out
}

// EvalUse is one eval: function the rules SpamAssassin loads call.
type EvalUse struct {
	Name  string
	Rules int  // rules calling it
	Net   bool // every rule calling it has tflags net
	// Registered reports that one of SpamAssassin's loaded plugins
	// provides it; Implemented that sluice's registry has it.
	Registered, Implemented bool
}

// EvalCoverage lists the eval: functions of the rules in sa (from
// LoadSARules), with whether sluice's registry (rules.NewEvalRegistry)
// implements them, by name.
func EvalCoverage(sa map[string]SARule) []EvalUse {
	impl := map[string]bool{}
	for _, n := range rules.NewEvalRegistry().Names() {
		impl[n] = true
	}
	by := map[string]*EvalUse{}
	for _, r := range sa {
		// MIMEHeader registers an internal "_mimeheader_eval_RULE" per
		// mimeheader rule; those are regex rules, not eval: calls.
		if r.Eval == "" || strings.HasPrefix(r.Eval, "_") {
			continue
		}
		u := by[r.Eval]
		if u == nil {
			u = &EvalUse{Name: r.Eval, Net: true, Registered: r.Registered, Implemented: impl[r.Eval]}
			by[r.Eval] = u
		}
		u.Rules++
		if !r.Net {
			u.Net = false
		}
	}
	out := make([]EvalUse, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
