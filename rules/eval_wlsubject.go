package rules

// The eval functions of SpamAssassin's WelcomeListSubject plugin
// (Mail::SpamAssassin::Plugin::WelcomeListSubject).

import (
	"strings"
)

func evalSubjectInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		s := strings.TrimSpace(ec.header("Subject"))
		return anyGlob(list(ec.Config), []string{s}), nil
	}
}
