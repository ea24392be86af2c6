package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	if got := c.LMTP.Listen; len(got) != 1 || got[0] != "127.0.0.1:2424" {
		t.Fatalf("default listen = %v, want [127.0.0.1:2424]", got)
	}
	if c.Delivery.MailRoot != "./maildata" || c.Delivery.MailLocation != "%d/%n/Maildir" || c.Delivery.RecipientDelimiter != "+" {
		t.Fatalf("default delivery = %+v", c.Delivery)
	}
	if c.Delivery.UsersFile != "" || len(c.Delivery.Domains) != 0 {
		t.Fatalf("defaults must accept every recipient: %+v", c.Delivery)
	}
}

func TestParse(t *testing.T) {
	src := `
[log]
level = "debug"

[lmtp]
listen = ["unix:/run/sluice/lmtp.sock", "127.0.0.1:24"]
read_timeout = "90s"

[delivery]
mail_root = "/var/vmail"
domains = ["example.org"]
owner = "5000:5000"
`
	c, err := Parse("sluice.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if c.Log.Level != "debug" || c.LMTP.ReadTimeout != 90*time.Second || c.Delivery.MailRoot != "/var/vmail" {
		t.Fatalf("Parse = %+v", c)
	}
	// Keys not in the file keep their defaults.
	if c.LMTP.MaxRecipients != 1000 || c.Delivery.MailLocation != "%d/%n/Maildir" {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown key", "[lmtp]\nlisten = [\"127.0.0.1:1\"]\nlisen = 3\n", "sluice.toml:3: unknown key lmtp.lisen"},
		{"unknown table", "[delivery]\nmail_root = \"/x\"\n\n[bogus]\nx = 1\n", "sluice.toml:5: unknown key bogus.x"},
		{"syntax", "[lmtp\n", "sluice.toml:2: expected '.' or ']'"},
		{"bad level", "[log]\nlevel = \"loud\"\n", `log.level "loud"`},
		{"bad listen", "[lmtp]\nlisten = [\"nope\"]\n", `lmtp.listen "nope"`},
		{"bad owner", "[delivery]\nowner = \"1:x\"\n", "delivery.owner"},
		{"bad mode", "[lmtp]\nsocket_mode = \"999\"\n", "lmtp.socket_mode"},
		{"bad duration", "[lmtp]\nread_timeout = \"soon\"\n", "sluice.toml:2"},
		{"bad quota rule", "[delivery]\nquota_rule = \"*:storage=lots\"\n", "delivery.quota_rule"},
		{"mailbox quota rule", "[delivery]\nquota_rule = \"Trash:storage=+100M\"\n", "delivery.quota_rule"},
		{"bad script size", "[sieve]\nmax_script_size = 0\n", "sieve.max_script_size must be positive"},
		{"dirs without mode", "[rules]\ndirs = [\"/etc/spamassassin\"]\n", `rules.dirs is set but rules.mode is "auto"`},
		{"bad xforward network", "[lmtp]\nxforward_networks = [\"10.0.0.0/33\"]\n", `lmtp.xforward_networks: config: invalid: network "10.0.0.0/33"`},
		{"zero max_connections", "[lmtp]\nmax_connections = 0\n", "lmtp.max_connections must be positive"},
		{"zero max_session_time", "[lmtp]\nmax_session_time = \"0s\"\n", "lmtp.max_session_time must be positive"},
		{"zero message_timeout", "[lmtp]\nmessage_timeout = \"0s\"\n", "lmtp.message_timeout must be positive"},
		{"bad redis scheme", "[redis]\nurl = \"http://u:secret@h:6379/0\"\n", `redis.url: "http://u:xxxxx@h:6379/0": want redis://`},
		{"bad redis db", "[redis]\nurl = \"redis://h:6379/x\"\n", `redis.url: "redis://h:6379/x": database "x" is not a number`},
		{"zero redis timeout", "[redis]\nurl = \"redis://h:6379/0\"\ntimeout = \"0s\"\n", "redis.timeout must be positive"},
		{"small max_bytes_in_flight", "[lmtp]\nmax_bytes_in_flight = 1000\n", "lmtp.max_bytes_in_flight (1000) must be at least lmtp.max_message_size (52428800)"},
	} {
		_, err := Parse("sluice.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
	_, err := Parse("x.toml", []byte("[log]\nformat = \"xml\"\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(bad format) = %v, want errors.Is ErrInvalid", err)
	}
}

func TestQuotaKeys(t *testing.T) {
	c, err := Parse("sluice.toml", []byte("[delivery]\nquota_rule = \"*:storage=1G:messages=10000\"\nquota_full_tempfail = true\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	q, err := c.Delivery.Quota()
	if err != nil || q.Bytes != 1<<30 || q.Messages != 10000 || !c.Delivery.QuotaFullTempfail {
		t.Fatalf("Delivery.Quota() = %+v, %v; tempfail %v; want 1G, 10000 messages, true", q, err, c.Delivery.QuotaFullTempfail)
	}
	if d := Default().Delivery; d.QuotaRule != "" || d.QuotaFullTempfail {
		t.Fatalf("default quota = %q, tempfail %v; want none, false", d.QuotaRule, d.QuotaFullTempfail)
	}
}

func TestLMTPLimits(t *testing.T) {
	d := Default().LMTP
	if d.MaxConnections != 100 || d.MaxSessionTime != 30*time.Minute || d.MaxBytesInFlight != 200<<20 || d.MessageTimeout != 5*time.Minute || len(d.XForwardNetworks) != 0 {
		t.Fatalf("Default().LMTP = %+v, want the documented limits and no XFORWARD networks", d)
	}
	c, err := Parse("sluice.toml", []byte("[lmtp]\nxforward_networks = [\"10.1.0.0/16\", \"192.0.2.7\", \"2001:db8::/32\"]\nmax_connections = 7\nmessage_timeout = \"2m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	nets, err := c.LMTP.XForwardNets()
	if err != nil || len(nets) != 3 || nets[1].String() != "192.0.2.7/32" || !nets[0].Contains(net.ParseIP("10.1.2.3")) || c.LMTP.MaxConnections != 7 || c.LMTP.MessageTimeout != 2*time.Minute {
		t.Fatalf("Parse = %+v, nets %v, %v", c.LMTP, nets, err)
	}
}

func TestParseOwner(t *testing.T) {
	if o, err := ParseOwner("5000:6000"); err != nil || o != (Owner{5000, 6000}) {
		t.Fatalf("ParseOwner(5000:6000) = %v, %v", o, err)
	}
	if o, err := ParseOwner("root"); err != nil || o != (Owner{0, 0}) {
		t.Fatalf("ParseOwner(root) = %v, %v", o, err)
	}
	if _, err := ParseOwner("no-such-user-here"); err == nil {
		t.Fatalf("ParseOwner(no-such-user-here) succeeded")
	}
}

// TestSampleConfig: the sample shipped in contrib/ parses and equals the
// embedded defaults, so it cannot drift from them.
func TestSampleConfig(t *testing.T) {
	c, err := Load("../contrib/sluice.toml")
	if err != nil {
		t.Fatalf("Load(contrib/sluice.toml) = %v", err)
	}
	d := Default()
	if fmt.Sprint(c) != fmt.Sprint(d) {
		t.Fatalf("contrib/sluice.toml differs from Default():\n got %+v\nwant %+v", c, d)
	}
	// Every key is in the sample and in docs/configuration.md.
	src, _ := os.ReadFile("../contrib/sluice.toml")
	doc, _ := os.ReadFile("../docs/configuration.md")
	var walk func(prefix string, t reflect.Type)
	var keys []string
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				walk(prefix+tag+".", f.Type)
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk("", reflect.TypeOf(Config{}))
	for _, k := range keys {
		leaf := k[strings.LastIndexByte(k, '.')+1:]
		if !regexp.MustCompile(`(?m)^#? ?(` + leaf + ` = |\[\[[a-z.]*\b` + leaf + `\]\])`).Match(src) {
			t.Errorf("contrib/sluice.toml lacks key %s", k)
		}
		if !strings.Contains(string(doc), "`"+leaf+"`") {
			t.Errorf("docs/configuration.md lacks key %s", k)
		}
	}
}

// TestRedisConfig: a [redis] section parses with its defaults filled in.
func TestRedisConfig(t *testing.T) {
	c, err := Parse("sluice.toml", []byte("[redis]\nurl = \"rediss://:pw@redis.example:6380/2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Redis{URL: "rediss://:pw@redis.example:6380/2", KeyPrefix: "sluice:", Timeout: time.Second}); !reflect.DeepEqual(c.Redis, want) {
		t.Fatalf("Redis = %+v, want %+v", c.Redis, want)
	}
}
