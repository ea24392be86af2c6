// Package prefsql reads per-user SpamAssassin preferences from an SQL
// table, as SpamAssassin's Mail::SpamAssassin::Conf::SQL does for
// user_scores_dsn: the rows (preference, value) of the user and of
// '@GLOBAL' become user_prefs lines, which the caller parses as a
// user_prefs file (rules.Ruleset.ParsePrefs), so the same settings are
// allowed and refused as in a file.
//
// Where it diverges from Conf::SQL:
//   - Two DBI drivers are supported: SQLite (DBI:SQLite:dbname=PATH,
//     through the pure-Go modernc.org/sqlite) and PostgreSQL
//     (DBI:Pg:dbname=…;host=…;port=…, through pgx's database/sql
//     driver). Any other (mysql) or an LDAP URL is an error from Open, so
//     a site finds out at start-up rather than per message.
//   - The placeholders of user_scores_sql_custom_query (_USERNAME_,
//     _MAILBOX_, _DOMAIN_) are bound parameters, not values quoted into
//     the text; _TABLE_ is the table name, userpref, as in SpamAssassin.
//   - Each query has a time limit (Config.Timeout).
package prefsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// ErrDSN is wrapped by errors about a user_scores_dsn that cannot be
// used.
var ErrDSN = errors.New("prefsql: bad user_scores_dsn")

// ErrQuery is wrapped by errors from reading a user's rows.
var ErrQuery = errors.New("prefsql: query failed")

// Table is the table name _TABLE_ stands for (Conf::SQL's $f_table).
const Table = "userpref"

// DefaultQuery is Conf::SQL's query when user_scores_sql_custom_query is
// not set: the user's rows after the '@GLOBAL' ones ('@' sorts before
// letters and digits), so that the user's settings win.
const DefaultQuery = "SELECT preference, value FROM _TABLE_ WHERE username = _USERNAME_ OR username = '@GLOBAL' ORDER BY username ASC"

// DefaultTimeout bounds one query when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config is the site's SQL preference settings (rules.UserScoresSQL).
type Config struct {
	// DSN is user_scores_dsn, a Perl DBI data source.
	DSN string
	// Username and Password are user_scores_sql_username and
	// user_scores_sql_password, PostgreSQL's user and password; SQLite
	// has no use for them.
	Username, Password string
	// CustomQuery is user_scores_sql_custom_query; "" is DefaultQuery.
	CustomQuery string
	// Timeout bounds one query, connecting included; if zero,
	// DefaultTimeout.
	Timeout time.Duration
}

// DSN is a parsed DBI data source name.
type DSN struct {
	// Driver is the DBI driver name as written ("SQLite").
	Driver string
	// Params are the driver's attributes (dbname, host, port, …); a
	// SQLite DSN without "name=" has its file as dbname.
	Params map[string]string
}

// ParseDSN parses a DBI data source name: "dbi:DRIVER:ATTRS", where
// ATTRS is "k=v;k=v" or, for SQLite, the file name alone. The "dbi"
// prefix is case-insensitive, as in DBI.
func ParseDSN(s string) (DSN, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.EqualFold(scheme, "dbi") {
		return DSN{}, fmt.Errorf("%w: %q does not start with DBI:", ErrDSN, s)
	}
	driver, attrs, ok := strings.Cut(rest, ":")
	// DBI allows attributes after the driver in parentheses:
	// dbi:SQLite(RaiseError=>1):dbname=…; they are connection options.
	if i := strings.IndexByte(driver, '('); i >= 0 && strings.HasSuffix(driver, ")") {
		driver = driver[:i]
	}
	if !ok || driver == "" {
		return DSN{}, fmt.Errorf("%w: %q has no driver", ErrDSN, s)
	}
	d := DSN{Driver: driver, Params: map[string]string{}}
	for _, f := range strings.Split(attrs, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			// DBD::SQLite and DBD::Pg take a bare first field as the
			// database name (dbi:SQLite:/path, dbi:mysql:db:host).
			if _, dup := d.Params["dbname"]; dup {
				return DSN{}, fmt.Errorf("%w: %q: field %q is not key=value", ErrDSN, s, f)
			}
			d.Params["dbname"] = f
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "db", "database":
			k = "dbname"
		}
		d.Params[k] = v
	}
	return d, nil
}

// Source reads users' preference rows from the database of one Config.
// It connects for each read, as Conf::SQL does, so that it holds no
// connection between reads and needs no closing; callers cache. A Source
// is safe for concurrent use.
type Source struct {
	cfg    Config
	driver string
	conn   string
	query  string
	args   []string // what each ? of query binds, in order
}

// Open checks cfg and returns a Source for it. It does not connect.
func Open(cfg Config) (*Source, error) {
	d, err := ParseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultTimeout
	}
	switch strings.ToLower(d.Driver) {
	case "sqlite", "sqlite3":
		name := d.Params["dbname"]
		if name == "" {
			return nil, fmt.Errorf("%w: %q names no database file", ErrDSN, cfg.DSN)
		}
		s.driver = "sqlite"
		// Read-only, and a busy database waits rather than failing at
		// once: spamd's writers (a web front end) hold short locks.
		q := url.Values{}
		q.Add("mode", "ro")
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.cfg.Timeout.Milliseconds()))
		s.conn = "file:" + (&url.URL{Path: name}).EscapedPath() + "?" + q.Encode()
	case "pg":
		s.driver = "pgx"
		s.conn = pgConn(d.Params, cfg)
	default:
		return nil, fmt.Errorf("%w: driver %q is not supported (DBI:SQLite:dbname=PATH or DBI:Pg:dbname=…;host=…)", ErrDSN, d.Driver)
	}
	s.query, s.args = bindQuery(cfg.CustomQuery, s.driver == "pgx")
	return s, nil
}

// pgConn is the libpq keyword/value connection string of a DBI:Pg DSN:
// its attributes (dbname, host, port, sslmode, … as DBD::Pg passes them to
// libpq), with the user and password DBI->connect is given, and a connect
// time-out from cfg.Timeout unless the DSN sets one.
func pgConn(params map[string]string, cfg Config) string {
	kv := maps.Clone(params)
	if cfg.Username != "" {
		kv["user"] = cfg.Username
	}
	if cfg.Password != "" {
		kv["password"] = cfg.Password
	}
	if _, ok := kv["connect_timeout"]; !ok {
		kv["connect_timeout"] = strconv.Itoa(max(1, int(cfg.Timeout.Seconds())))
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		// libpq: single quotes around the value, \ and \' escaped.
		v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[k])
		fmt.Fprintf(&b, "%s='%s'", k, v)
	}
	return b.String()
}

// bindQuery turns a custom query (or DefaultQuery) into SQL with one
// parameter per _USERNAME_, _MAILBOX_ or _DOMAIN_, in order (? or, with
// dollar, PostgreSQL's $1, $2, …), and _TABLE_ replaced.
func bindQuery(custom string, dollar bool) (string, []string) {
	q := custom
	if q == "" {
		q = DefaultQuery
	}
	q = strings.ReplaceAll(q, "_TABLE_", Table)
	var b strings.Builder
	var args []string
	for {
		i, name := nextPlaceholder(q)
		if i < 0 {
			b.WriteString(q)
			return b.String(), args
		}
		b.WriteString(q[:i])
		args = append(args, name)
		if dollar {
			fmt.Fprintf(&b, "$%d", len(args))
		} else {
			b.WriteByte('?')
		}
		q = q[i+len(name):]
	}
}

// nextPlaceholder finds the first of the user placeholders in q.
func nextPlaceholder(q string) (int, string) {
	at, name := -1, ""
	for _, p := range []string{"_USERNAME_", "_MAILBOX_", "_DOMAIN_"} {
		if i := strings.Index(q, p); i >= 0 && (at < 0 || i < at) {
			at, name = i, p
		}
	}
	return at, name
}

// Query returns the SQL a read runs, with ? (SQLite) or $n (PostgreSQL)
// for the bound user values.
func (s *Source) Query() string { return s.query }

// UserPrefs returns the rows for user as the text of a user_prefs file,
// one "preference\tvalue" line a row (NULL as empty), as Conf::SQL builds
// its config_text. No rows is empty text and no error.
func (s *Source) UserPrefs(ctx context.Context, user string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	db, err := sql.Open(s.driver, s.conn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQuery, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, s.query, s.bind(user)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQuery, err)
	}
	defer rows.Close()
	var text []byte
	for rows.Next() {
		var pref, val sql.NullString
		if err := rows.Scan(&pref, &val); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrQuery, err)
		}
		text = append(text, pref.String...)
		text = append(text, '\t')
		text = append(text, val.String...)
		text = append(text, '\n')
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQuery, err)
	}
	return text, nil
}

// bind gives the values of the query's placeholders for user. As
// Conf::SQL's split('@', $username): the mailbox is the first field, the
// domain the second (NULL when there is none), trailing empty fields
// dropped as Perl's split drops them.
func (s *Source) bind(user string) []any {
	f := strings.Split(user, "@")
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	field := func(i int) any {
		if i < len(f) {
			return f[i]
		}
		return nil
	}
	out := make([]any, len(s.args))
	for i, a := range s.args {
		switch a {
		case "_USERNAME_":
			out[i] = user
		case "_MAILBOX_":
			out[i] = field(0)
		case "_DOMAIN_":
			out[i] = field(1)
		}
	}
	return out
}
