package main

import (
	"fmt"

	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/prefsql"
	"github.com/sluice-mail/sluice/rules"
)

// sqlPrefsSource opens the rule files' user_scores_dsn for the pipeline;
// nil when it is not set. A DSN sluice cannot use (a driver other than
// SQLite or PostgreSQL, an LDAP URL) stops the start, the reload or lint: the site
// asked for per-user preferences it would otherwise silently lose.
func sqlPrefsSource(u rules.UserScoresSQL) (pipeline.PrefsSource, error) {
	if u.DSN == "" {
		return nil, nil
	}
	src, err := prefsql.Open(prefsql.Config{DSN: u.DSN, Username: u.Username, Password: u.Password, CustomQuery: u.CustomQuery})
	if err != nil {
		return nil, fmt.Errorf("user_scores_dsn: %w", err)
	}
	return src, nil
}

// spamdSQLUser is the user name spamd --sql-config looks up for a
// request's User header: the header as it is, or "nobody" without one.
func spamdSQLUser(header string) string {
	if header == "" {
		return "nobody"
	}
	return header
}
