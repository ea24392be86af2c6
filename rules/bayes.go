package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// bayesDirective reads one Bayes or learning setting into rs.conf.Bayes
// and reports whether key was one. Booleans are SpamAssassin's: a number,
// 0 false; numbers that do not parse are diagnosed at file:line.
func (p *parser) bayesDirective(rs *Ruleset, file string, line int, key, val string) bool {
	b := &rs.conf.Bayes
	flag := func(dst *bool) {
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			p.diag(file, line, 1, "", "%s: want 0 or 1, not %q", key, val)
			return
		}
		*dst = n != 0
	}
	num := func(dst *float64) {
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			p.diag(file, line, 1, "", "%s: bad number %q", key, val)
			return
		}
		*dst = v
	}
	count := func(dst *int) {
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 {
			p.diag(file, line, 1, "", "%s: bad count %q", key, val)
			return
		}
		*dst = n
	}
	duration := func(dst *time.Duration) {
		d, err := parseDuration(val)
		if err != nil {
			p.diag(file, line, 1, "", "%s: %v", key, err)
			return
		}
		*dst = d
	}
	switch key {
	case "use_bayes":
		flag(&b.UseBayes)
	case "use_bayes_rules":
		flag(&b.UseBayesRules)
	case "use_learner":
		flag(&b.UseLearner)
	case "bayes_auto_learn":
		flag(&b.AutoLearn)
	case "bayes_auto_learn_on_error":
		flag(&b.AutoLearnOnError)
	case "bayes_auto_expire":
		flag(&b.AutoExpire)
	case "bayes_auto_learn_threshold_nonspam":
		num(&b.AutoLearnThresholdNonspam)
	case "bayes_auto_learn_threshold_spam":
		num(&b.AutoLearnThresholdSpam)
	case "bayes_min_ham_num":
		count(&b.MinHamNum)
	case "bayes_min_spam_num":
		count(&b.MinSpamNum)
	case "bayes_expiry_max_db_size":
		count(&b.ExpiryMaxDBSize)
	case "bayes_token_ttl":
		duration(&b.TokenTTL)
	case "bayes_seen_ttl":
		duration(&b.SeenTTL)
	case "bayes_ignore_header":
		for _, h := range strings.Fields(val) {
			b.IgnoreHeaders = append(b.IgnoreHeaders, strings.ToLower(h))
		}
	case "bayes_ignore_from":
		b.IgnoreFrom = append(b.IgnoreFrom, lowerFields(val)...)
	case "bayes_ignore_to":
		b.IgnoreTo = append(b.IgnoreTo, lowerFields(val)...)
	case "bayes_path":
		b.Path = strings.TrimSpace(val)
	default:
		if !strings.HasPrefix(key, "bayes_") {
			return false
		}
		b.Other[key] = strings.TrimSpace(val)
	}
	return true
}

// parseDuration reads a Conf.pm duration ($CONF_TYPE_DURATION): a
// number of seconds, or of minutes, hours, days or weeks with the suffix
// m, h, d or w ("s" for seconds). A negative value means none, as Redis.pm
// reads it.
func parseDuration(val string) (time.Duration, error) {
	v := strings.ToLower(strings.TrimSpace(val))
	unit := time.Second
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 's':
			v = v[:n-1]
		case 'm':
			unit, v = time.Minute, v[:n-1]
		case 'h':
			unit, v = time.Hour, v[:n-1]
		case 'd':
			unit, v = 24*time.Hour, v[:n-1]
		case 'w':
			unit, v = 7*24*time.Hour, v[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f)*float64(unit) > math.MaxInt64 {
		return 0, fmt.Errorf("bad duration %q", val)
	}
	return time.Duration(f * float64(unit)), nil
}

// This file mirrors what SpamAssassin's Plugin/Bayes.pm gives the rule
// language: the check_bayes eval and the score-set switch. The classifier
// itself lives in the bayes package; its probability reaches the rules
// through Input.Bayes.

// bayesActive reports whether the Bayes probability in in takes part in
// this evaluation: SpamAssassin's check_bayes returns 0 unless use_learner,
// use_bayes and use_bayes_rules are all on.
func (c *Config) bayesActive(in *Input) bool {
	b := &c.Bayes
	return in.Bayes != nil && b.UseLearner && b.UseBayes && b.UseBayesRules
}

// scoreSetFor is the score set of one evaluation: the one Options chose,
// switched to its Bayes twin (|2) when Bayes scored the message, as
// PerMsgStatus::check does once the Bayes scanner is available.
func (rs *Ruleset) scoreSetFor(in *Input) int {
	set := rs.opt.scoreSet()
	if rs.conf.bayesActive(in) {
		set |= 2
	}
	return set
}

// check_bayes(min, max): the Bayes probability p is in (min, max], with a
// min of 0 meaning from 0 inclusive and a max of "undef" no upper bound
// (Bayes.pm check_bayes). A rule decided by the caller through
// Input.Rules fires as before.
func evalCheckBayes(ec *EvalContext, args []string) (bool, error) {
	if ec.Input.Rules[ec.Rule] {
		return true, nil
	}
	if !ec.Config.bayesActive(ec.Input) {
		return false, nil
	}
	p := *ec.Input.Bayes
	lo := argFloat(args, 0, 0)
	if lo != 0 && !(p > lo) {
		return false, nil
	}
	if hi := strings.TrimSpace(arg(args, 1)); hi != "" && hi != "undef" {
		v, err := strconv.ParseFloat(hi, 64)
		if err != nil {
			return false, err
		}
		if p > v {
			return false, nil
		}
	}
	return true, nil
}

// AutoLearnPoints is what SpamAssassin's auto-learn decision reads off one
// evaluation (PerMsgStatus::_get_autolearn_points).
type AutoLearnPoints struct {
	// Points is the score without Bayes: the hits scored in the score set
	// without its Bayes bit, leaving out rules with tflags learn,
	// noautolearn or userconf, rounded to 3 decimals.
	Points float64
	// Head and Body split Points by where the rules look (a meta rule's
	// score is split by its direct dependencies' kinds; full rules count
	// in neither); tflags autolearn_header / autolearn_body move a rule.
	Head, Body float64
	// Learned is the score of the learn rules (BAYES_*) in the set used.
	Learned float64
	// Force names the hit rules with tflags autolearn_force, which lift
	// the 3 head and 3 body points a spam needs.
	Force []string
}

// AutoLearnPoints computes the auto-learn points of res, which Eval
// returned for a message on this Ruleset.
func (rs *Ruleset) AutoLearnPoints(res Result) AutoLearnPoints {
	var a AutoLearnPoints
	set := res.ScoreSet &^ 2
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	part := func(k Kind) string {
		switch k {
		case KindHeader, KindMIMEHeader:
			return "head"
		case KindBody, KindRawBody, KindURI:
			return "body"
		case KindMeta:
			return "meta"
		}
		return ""
	}
	for _, h := range res.Hits {
		r := rs.byName[h.Rule]
		if r == nil {
			continue
		}
		force := ""
		skip, learn := false, false
		for _, f := range r.tflags {
			switch f {
			case "noautolearn", "userconf":
				skip = true
			case "learn":
				learn = true
			case "autolearn_force":
				a.Force = append(a.Force, r.name)
			case "autolearn_header":
				force = "head"
			case "autolearn_body":
				force = "body"
			}
		}
		if skip {
			continue
		}
		n := float64(max(h.Count, 1))
		if learn {
			a.Learned += r.scores[res.ScoreSet] * n
			continue
		}
		sc := r.scores[set] * n
		if sc == 0 {
			continue
		}
		switch t := part(r.kind); {
		case force == "head" || (force == "" && t == "head"):
			a.Head += sc
		case force == "body" || (force == "" && t == "body"):
			a.Body += sc
		case t == "meta":
			var heads, bodies int
			for _, dep := range r.metaDeps {
				if d := rs.byName[dep]; d != nil {
					switch part(d.kind) {
					case "head":
						heads++
					case "body":
						bodies++
					}
				}
			}
			if total := heads + bodies; total > 0 {
				a.Head += round(sc * float64(heads) / float64(total))
				a.Body += round(sc * float64(bodies) / float64(total))
			}
		}
		a.Points += sc
	}
	a.Points = round(a.Points)
	return a
}

// AutoLearn is the outcome of SpamAssassin's auto-learn decision.
type AutoLearn int

// The auto-learn outcomes; their strings are what X-Spam-Status says
// after autolearn=.
const (
	AutoLearnNo AutoLearn = iota
	AutoLearnHam
	AutoLearnSpam
)

func (a AutoLearn) String() string { return [...]string{"no", "ham", "spam"}[a] }

// AutoLearnDecision applies AutoLearnThreshold.pm's discriminator to one
// evaluation: ham below bayes_auto_learn_threshold_nonspam, spam at or
// above bayes_auto_learn_threshold_spam with at least 3 head and 3 body
// points (unless a rule forces it), never against the verdict (isSpam) or
// what the learn rules already said, and with bayes_auto_learn_on_error
// only when Bayes got it wrong.
func (rs *Ruleset) AutoLearnDecision(res Result, isSpam bool) AutoLearn {
	b := rs.conf.Bayes
	a := rs.AutoLearnPoints(res)
	var spam bool
	switch {
	case a.Points < b.AutoLearnThresholdNonspam:
		spam = false
	case a.Points >= b.AutoLearnThresholdSpam:
		spam = true
	default:
		return AutoLearnNo
	}
	hit := func(name string) bool {
		for _, h := range res.Hits {
			if h.Rule == name {
				return true
			}
		}
		return false
	}
	if spam {
		need := 3.0
		if len(a.Force) > 0 {
			need = -99
		}
		if a.Body < need || a.Head < need || a.Learned < -1 || !isSpam {
			return AutoLearnNo
		}
		if b.AutoLearnOnError && hit("BAYES_99") {
			return AutoLearnNo
		}
		return AutoLearnSpam
	}
	if a.Learned > 1 || isSpam {
		return AutoLearnNo
	}
	if b.AutoLearnOnError && hit("BAYES_00") {
		return AutoLearnNo
	}
	return AutoLearnHam
}
