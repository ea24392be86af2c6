package rules

import (
	"strings"
	"testing"
)

// TestUserScoresSettings: the user_scores_* settings of the site's rule
// files reach Config.UserScores, without a lint warning; in a user's
// preferences they are refused, as Conf.pm's is_admin.
func TestUserScoresSettings(t *testing.T) {
	rs, err := LoadString("local.cf", `
user_scores_dsn   DBI:SQLite:dbname=/var/lib/sa/prefs.db
user_scores_sql_username  sa
user_scores_sql_password  secret
user_scores_sql_custom_query SELECT preference, value FROM _TABLE_ WHERE username = _USERNAME_ OR username = '@GLOBAL' ORDER BY username ASC
user_scores_fallback_to_global 1
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := UserScoresSQL{
		DSN: "DBI:SQLite:dbname=/var/lib/sa/prefs.db", Username: "sa", Password: "secret",
		CustomQuery: "SELECT preference, value FROM _TABLE_ WHERE username = _USERNAME_ OR username = '@GLOBAL' ORDER BY username ASC",
	}
	if got := rs.Config().UserScores; got != want {
		t.Errorf("UserScores = %+v, want %+v", got, want)
	}
	if w := rs.Lint().Warnings; len(w) != 0 {
		t.Errorf("lint warnings %v, want none", w)
	}
	pr, err := rs.ParsePrefs("(sql config) alice", []byte("user_scores_dsn\tDBI:SQLite:dbname=/tmp/other.db\nuser_scores_sql_custom_query\tSELECT 1\nrequired_score\t3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := pr.Config().UserScores; got != want {
		t.Errorf("after a user's rows, UserScores = %+v, want the site's", got)
	}
	if got := pr.Config().RequiredScore; got != 3 {
		t.Errorf("required_score = %v, want 3", got)
	}
	if w := pr.Lint().Warnings; len(w) != 2 || !strings.Contains(w[0].Msg, "user_scores_dsn is not allowed") {
		t.Errorf("user's lint warnings %v, want two refusals", w)
	}
	off, err := LoadString("local.cf", "user_scores_fallback_to_global 0\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := off.Lint().Warnings; len(w) != 1 || !strings.Contains(w[0].Msg, "not supported") {
		t.Errorf("user_scores_fallback_to_global 0: warnings %v, want one", w)
	}
}
