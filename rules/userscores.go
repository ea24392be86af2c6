package rules

import "strings"

// UserScoresSQL holds SpamAssassin's settings for per-user preferences
// kept in an SQL table (Conf.pm's user_scores_dsn and its companions,
// all administrator settings): which database, the credentials, and the
// query. The rules package only records them; whoever reads the table
// turns its rows into user_prefs lines for Ruleset.ParsePrefs.
type UserScoresSQL struct {
	// DSN is user_scores_dsn, a Perl DBI data source
	// ("DBI:SQLite:dbname=/var/lib/spamassassin/prefs.db"); "" is off.
	DSN string
	// Username and Password are user_scores_sql_username and
	// user_scores_sql_password.
	Username, Password string
	// CustomQuery is user_scores_sql_custom_query with its _TABLE_,
	// _USERNAME_, _MAILBOX_ and _DOMAIN_ placeholders; "" is the default
	// query.
	CustomQuery string
}

// set records one of the settings; Conf.pm's $CONF_TYPE_STRING keeps the
// value as written, past the leading and trailing blanks.
func (u *UserScoresSQL) set(key, val string) {
	val = strings.TrimSpace(val)
	switch key {
	case "user_scores_dsn":
		u.DSN = val
	case "user_scores_sql_username":
		u.Username = val
	case "user_scores_sql_password":
		u.Password = val
	case "user_scores_sql_custom_query":
		u.CustomQuery = val
	}
}
