package rules

import (
	"strings"
)

// wlsubjectEvals are the eval functions of SpamAssassin's WelcomeListSubject plugin.
func wlsubjectEvals() map[string]EvalFunc {
	return map[string]EvalFunc{
		"check_subject_in_blocklist":   evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_subject_in_welcomelist": evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
		"check_subject_in_blacklist":   evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_subject_in_whitelist":   evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
	}
}

func evalSubjectInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		s := strings.TrimSpace(ec.header("Subject"))
		return anyGlob(list(ec.Config), []string{s}), nil
	}
}
