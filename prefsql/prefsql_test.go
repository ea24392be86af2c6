package prefsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// createTable makes SpamAssassin's userpref table (sql/userpref_*.sql's
// columns) in db, holding rows; dollar numbers the parameters as
// PostgreSQL does.
func createTable(t testing.TB, db *sql.DB, dollar bool, rows [][3]any) {
	t.Helper()
	if _, err := db.Exec(`CREATE TABLE userpref (username varchar(100) NOT NULL, preference varchar(50) NOT NULL, value varchar(100), prefid SERIAL PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO userpref (username, preference, value) VALUES (?, ?, ?)`
	if dollar {
		ins = `INSERT INTO userpref (username, preference, value) VALUES ($1, $2, $3)`
	}
	for _, r := range rows {
		if _, err := db.Exec(ins, r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
}

// newDB creates a SQLite file holding rows and returns its path.
func newDB(t testing.TB, rows [][3]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prefs.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	createTable(t, db, false, rows)
	return path
}

func TestParseDSN(t *testing.T) {
	for _, c := range []struct {
		in     string
		driver string
		params map[string]string
		err    bool
	}{
		{"DBI:SQLite:dbname=/var/lib/sa/prefs.db", "SQLite", map[string]string{"dbname": "/var/lib/sa/prefs.db"}, false},
		{"dbi:SQLite:/tmp/p.db", "SQLite", map[string]string{"dbname": "/tmp/p.db"}, false},
		{"dbi:SQLite(RaiseError=>1):database=/tmp/p.db", "SQLite", map[string]string{"dbname": "/tmp/p.db"}, false},
		{"DBI:Pg:dbname=sa;host=db.example;port=5432", "Pg", map[string]string{"dbname": "sa", "host": "db.example", "port": "5432"}, false},
		{"DBI:mysql:spamassassin:localhost", "mysql", map[string]string{"dbname": "spamassassin:localhost"}, false},
		{"ldap://localhost:389/dc=example?saconfig?uid=__USERNAME__", "", nil, true},
		{"DBI:", "", nil, true},
		{"", "", nil, true},
	} {
		d, err := ParseDSN(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseDSN(%q) error %v, want error %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrDSN) {
				t.Errorf("ParseDSN(%q) = %v, not ErrDSN", c.in, err)
			}
			continue
		}
		if d.Driver != c.driver || len(d.Params) != len(c.params) {
			t.Errorf("ParseDSN(%q) = %+v, want %s %v", c.in, d, c.driver, c.params)
		}
		for k, v := range c.params {
			if d.Params[k] != v {
				t.Errorf("ParseDSN(%q).Params[%s] = %q, want %q", c.in, k, d.Params[k], v)
			}
		}
	}
}

func TestOpenUnsupported(t *testing.T) {
	for _, dsn := range []string{"DBI:mysql:sa:localhost", "DBI:SQLite:", "dbi:Oracle:sa", "ldap://localhost/"} {
		if _, err := Open(Config{DSN: dsn}); !errors.Is(err, ErrDSN) {
			t.Errorf("Open(%q) = %v, want ErrDSN", dsn, err)
		}
	}
}

// prefsRows are the rows TestUserPrefs and TestUserPrefsPostgres read.
var prefsRows = [][3]any{
	{"alice@example.test", "required_score", "3"},
	{"@GLOBAL", "required_score", "6"},
	{"@GLOBAL", "score", "LOCAL_PILLS 2"},
	{"bob@example.test", "welcomelist_from", "*@friend.example"},
	{"bob@example.test", "rewrite_header", nil},
	{"@~example.test", "report_safe", "0"},
	{"eve'--@example.test", "required_score", "1"},
}

func TestUserPrefs(t *testing.T) {
	testQueries(t, Config{DSN: "DBI:SQLite:dbname=" + newDB(t, prefsRows)})
}

// TestUserPrefsPostgres reads the rows from a real PostgreSQL, with a
// password that needs quoting.
func TestUserPrefsPostgres(t *testing.T) {
	pg := testutil.StartPostgres(t)
	cfg := Config{DSN: fmt.Sprintf("DBI:Pg:dbname=%s;host=127.0.0.1;port=%d", pg.Database, pg.Port), Username: pg.User, Password: pg.Password}
	d, err := ParseDSN(cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", pgConn(d.Params, Config{Username: pg.User, Password: pg.Password, Timeout: DefaultTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	createTable(t, db, true, prefsRows)
	testQueries(t, cfg)
	bad := cfg
	bad.Password = "wrong"
	s, err := Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserPrefs(context.Background(), "alice@example.test"); !errors.Is(err, ErrQuery) {
		t.Errorf("UserPrefs with a wrong password = %v, want ErrQuery", err)
	}
}

// testQueries checks the default query and Conf.pm's example custom
// queries over prefsRows in the database of cfg.
func testQueries(t *testing.T, base Config) {
	t.Helper()
	read := func(cfg Config, user string) string {
		t.Helper()
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		text, err := s.UserPrefs(context.Background(), user)
		if err != nil {
			t.Fatalf("UserPrefs(%q): %v", user, err)
		}
		return string(text)
	}
	def := base
	for _, c := range []struct{ user, want string }{
		// '@GLOBAL' sorts first: the user's rows come after and win.
		{"alice@example.test", "required_score\t6\nscore\tLOCAL_PILLS 2\nrequired_score\t3\n"},
		{"bob@example.test", "required_score\t6\nscore\tLOCAL_PILLS 2\nwelcomelist_from\t*@friend.example\nrewrite_header\t\n"},
		{"carol@example.test", "required_score\t6\nscore\tLOCAL_PILLS 2\n"},
		// A quote in the name is a value, not SQL.
		{"eve'--@example.test", "required_score\t6\nscore\tLOCAL_PILLS 2\nrequired_score\t1\n"},
		{"' OR '1'='1", "required_score\t6\nscore\tLOCAL_PILLS 2\n"},
	} {
		if got := read(def, c.user); got != c.want {
			t.Errorf("UserPrefs(%q) = %q, want %q", c.user, got, c.want)
		}
	}
	// Conf.pm's example of domain defaults.
	dom := base
	dom.CustomQuery = "SELECT preference, value FROM _TABLE_ WHERE username = _USERNAME_ OR username = '@GLOBAL' OR username = '@~'||_DOMAIN_ ORDER BY username ASC"
	if got, want := read(dom, "carol@example.test"), "required_score\t6\nscore\tLOCAL_PILLS 2\nreport_safe\t0\n"; got != want {
		t.Errorf("domain query: UserPrefs = %q, want %q", got, want)
	}
	// No domain: _DOMAIN_ is NULL and matches nothing.
	if got, want := read(dom, "carol"), "required_score\t6\nscore\tLOCAL_PILLS 2\n"; got != want {
		t.Errorf("domain query, no domain: UserPrefs = %q, want %q", got, want)
	}
	mbox := base
	mbox.CustomQuery = "SELECT preference, value FROM _TABLE_ WHERE username = _MAILBOX_ || '@' || _DOMAIN_"
	if got, want := read(mbox, "alice@example.test"), "required_score\t3\n"; got != want {
		t.Errorf("mailbox query: UserPrefs = %q, want %q", got, want)
	}
}

func TestUserPrefsErrors(t *testing.T) {
	s, err := Open(Config{DSN: "DBI:SQLite:dbname=" + filepath.Join(t.TempDir(), "missing.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserPrefs(context.Background(), "alice"); !errors.Is(err, ErrQuery) {
		t.Errorf("UserPrefs on a missing file = %v, want ErrQuery", err)
	}
	path := newDB(t, nil)
	s, err = Open(Config{DSN: "DBI:SQLite:dbname=" + path, CustomQuery: "SELECT nope FROM _TABLE_"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserPrefs(context.Background(), "alice"); !errors.Is(err, ErrQuery) {
		t.Errorf("UserPrefs with a bad query = %v, want ErrQuery", err)
	}
	s, err = Open(Config{DSN: "DBI:SQLite:dbname=" + path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.UserPrefs(ctx, "alice"); !errors.Is(err, ErrQuery) {
		t.Errorf("UserPrefs with a cancelled context = %v, want ErrQuery", err)
	}
}

func TestBindQuery(t *testing.T) {
	q, args := bindQuery("", false)
	if want := "SELECT preference, value FROM userpref WHERE username = ? OR username = '@GLOBAL' ORDER BY username ASC"; q != want || strings.Join(args, ",") != "_USERNAME_" {
		t.Errorf("bindQuery(\"\") = %q %v, want %q [_USERNAME_]", q, args, want)
	}
	q, args = bindQuery("SELECT a, b FROM _TABLE_ WHERE u = _DOMAIN_ OR u = _MAILBOX_ OR u = _USERNAME_", false)
	if want := "SELECT a, b FROM userpref WHERE u = ? OR u = ? OR u = ?"; q != want || strings.Join(args, ",") != "_DOMAIN_,_MAILBOX_,_USERNAME_" {
		t.Errorf("bindQuery = %q %v", q, args)
	}
	q, _ = bindQuery("SELECT a, b FROM _TABLE_ WHERE u = _USERNAME_ OR u = '@~'||_DOMAIN_", true)
	if want := "SELECT a, b FROM userpref WHERE u = $1 OR u = '@~'||$2"; q != want {
		t.Errorf("bindQuery(dollar) = %q, want %q", q, want)
	}
}

func TestPgConn(t *testing.T) {
	d, err := ParseDSN("DBI:Pg:dbname=sa;host=db.example;port=5433;sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	got := pgConn(d.Params, Config{Username: "spam", Password: `it's a \ secret`, Timeout: DefaultTimeout})
	if want := `connect_timeout='5' dbname='sa' host='db.example' password='it\'s a \\ secret' port='5433' sslmode='disable' user='spam'`; got != want {
		t.Errorf("pgConn = %q, want %q", got, want)
	}
}

// FuzzParseDSN: any string parses or fails with ErrDSN, without a
// panic, and Open agrees with ParseDSN.
func FuzzParseDSN(f *testing.F) {
	f.Add("DBI:Pg:dbname=sa;host=127.0.0.1;port=5432", `it's \\ a 'secret'`)
	for _, s := range []string{"DBI:SQLite:dbname=/tmp/p.db", "dbi:SQLite:/p.db", "DBI:Pg:dbname=a;host=b;port=5432", "dbi:x(y):;;=;a", "DBI:mysql:a:b", "ldap://x/"} {
		f.Add(s, "SELECT preference, value FROM _TABLE_ WHERE username = _USERNAME_ OR username = '@~'||_DOMAIN_")
	}
	f.Fuzz(func(t *testing.T, dsn, query string) {
		d, err := ParseDSN(dsn)
		if err != nil && !errors.Is(err, ErrDSN) {
			t.Fatalf("ParseDSN(%q) = %v, not ErrDSN", dsn, err)
		}
		if err == nil && d.Driver == "" {
			t.Fatalf("ParseDSN(%q) = %+v without a driver", dsn, d)
		}
		s, err := Open(Config{DSN: dsn, CustomQuery: query, Password: query})
		if err != nil {
			return
		}
		if s.driver == "pgx" {
			// The connection string quotes what it carries: pgconn reads
			// the password back as given (when the rest parses at all).
			if c, err := pgconn.ParseConfig(s.conn); err == nil && !strings.ContainsRune(query, 0) && c.Password != query {
				t.Fatalf("pgConn(%q) = %q: password %q, want %q", dsn, s.conn, c.Password, query)
			}
			return
		}
		if n := strings.Count(s.Query(), "?") - strings.Count(strings.ReplaceAll(query, "_TABLE_", Table), "?"); n != len(s.args) {
			t.Fatalf("Open(%q): query %q binds %d values, has %d new ?", query, s.Query(), len(s.args), n)
		}
		if len(s.bind("a@b@c")) != len(s.args) {
			t.Fatal("bind length differs from the placeholders")
		}
	})
}

// BenchmarkUserPrefsSQLite is one uncached read: open, query, close.
func BenchmarkUserPrefsSQLite(b *testing.B) {
	s, err := Open(Config{DSN: "DBI:SQLite:dbname=" + newDB(b, prefsRows)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.UserPrefs(context.Background(), "alice@example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
