package rules

import (
	"strconv"
	"strings"
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
