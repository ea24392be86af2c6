// Package config decodes sluice's TOML configuration file into a Config,
// fills in the embedded defaults and validates the result.
//
// Decoding is strict: a key sluice does not know is an error naming the file
// and line, so that a typo never silently falls back to a default. Every key
// and its default is documented in docs/configuration.md; Default is the
// single source of those defaults.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sluice-mail/sluice/maildir"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole configuration of one sluice process.
type Config struct {
	Log      Log      `toml:"log"`
	LMTP     LMTP     `toml:"lmtp"`
	Delivery Delivery `toml:"delivery"`
	Metrics  Metrics  `toml:"metrics"`
	Filter   Filter   `toml:"filter"`
	Auth     Auth     `toml:"auth"`
	Rules    Rules    `toml:"rules"`
	Sieve    Sieve    `toml:"sieve"`
	Outbound Outbound `toml:"outbound"`
	Bayes    Bayes    `toml:"bayes"`
	Redis    Redis    `toml:"redis"`
	// Policy is the Postfix policy service (config/policy.go).
	Policy Policy `toml:"policy"`
	// Milter is the Postfix milter front end (config/milter.go).
	Milter Milter `toml:"milter"`
	// Spamd is the SPAMC/SPAMD protocol server (config/spamd.go).
	Spamd Spamd `toml:"spamd"`
}

// Redis is the Redis server that holds state shared between sluice nodes:
// the Bayes database, which then lives there instead of in bayes.path,
// and the outbound state (delivery log, vacation windows, Sieve duplicate
// memory), which then lives there instead of in outbound.state.
type Redis struct {
	// URL is redis://[user:password@]host:port/db, or rediss:// for TLS.
	// Default "": no Redis.
	URL string `toml:"url"`
	// KeyPrefix starts every key sluice writes, so several sites or
	// clusters can share one server. Default "sluice:".
	KeyPrefix string `toml:"key_prefix"`
	// Timeout bounds the connect and each reply; past it a delivery goes
	// on without what Redis holds (Bayes). Default 1s.
	Timeout time.Duration `toml:"timeout"`
	// SentinelAddrs are host:port addresses of Redis Sentinels; set, the
	// master named SentinelMaster is asked of them (and followed across a
	// failover), and URL gives only the credentials, database and TLS.
	// Default none.
	SentinelAddrs []string `toml:"sentinel_addrs"`
	// SentinelMaster is the master's name in the Sentinels' configuration.
	// Default "".
	SentinelMaster string `toml:"sentinel_master"`
	// ClusterAddrs are host:port addresses of Redis Cluster nodes (any
	// few; the client learns the rest); URL gives only the credentials
	// and TLS. sluice's scripts touch several keys at once, which a
	// cluster allows only within one hash slot: KeyPrefix must then hold
	// a hash tag, such as "{sluice}:". Default none.
	ClusterAddrs []string `toml:"cluster_addrs"`
}

// Bayes configures the learning classifier. What it learns and when
// (use_bayes, bayes_auto_learn, thresholds, bayes_ignore_header, …) is read
// from the rule files, as SpamAssassin reads it; this section says where
// the database is.
type Bayes struct {
	// Enabled lets Bayes learn and score as the rule files say; false
	// turns it off whatever they say. Default true. Bayes scores nothing
	// before bayes_min_spam_num and bayes_min_ham_num (200 each) messages
	// are learned.
	Enabled bool `toml:"enabled"`
	// Path is the database file (bbolt), shared by deliveries and
	// `sluice learn`. Default: .sluice-bayes.db in delivery.mail_root.
	Path string `toml:"path"`
	// LockTimeout bounds the wait for the database while another process
	// (a long `sluice learn`) writes it; past it a delivery goes on
	// without Bayes. Default 2s.
	LockTimeout time.Duration `toml:"lock_timeout"`
	// PerUser gives every recipient a database of its own, keyed by its
	// mailbox (the address lower-cased, without its +detail): deliveries
	// score against it and auto-learn into it, and `sluice learn -user`
	// trains it. A recipient whose database does not exist yet, or holds
	// too little, is scored without Bayes. Default false: one global
	// database.
	PerUser bool `toml:"per_user"`
}

// BayesPath returns the Bayes database file in force.
func (c Config) BayesPath() string {
	if c.Bayes.Path != "" {
		return c.Bayes.Path
	}
	return filepath.Join(c.Delivery.MailRoot, ".sluice-bayes.db")
}

// Outbound configures what sluice sends out: Sieve redirects, vacation
// replies and forwarded bounces, DKIM-signed and SRS-rewritten.
type Outbound struct {
	// Relay is the host:port mail is submitted to. Default
	// "127.0.0.1:25", the local Postfix.
	Relay string `toml:"relay"`
	// Sendmail, when set, submits through this sendmail binary instead.
	Sendmail string `toml:"sendmail"`
	// StartTLS, Username and PasswordFile configure a smart host.
	StartTLS     bool   `toml:"starttls"`
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	// State is the database of done actions and vacation windows.
	// Default: .sluice-state.db in delivery.mail_root.
	State string `toml:"state"`
	// DKIMKeyTable and DKIMSigningTable are OpenDKIM-style tables; with
	// both set, outgoing mail from our domains is signed.
	DKIMKeyTable     string `toml:"dkim_key_table"`
	DKIMSigningTable string `toml:"dkim_signing_table"`
	// SRSSecretsFile holds SRS secrets, one per line, the first signing
	// (postsrsd's format). Set, forwards get SRS0/SRS1 senders and
	// bounces to them are forwarded back.
	SRSSecretsFile string `toml:"srs_secrets_file"`
	// ConnectTimeout bounds the TCP connect to the relay. Default 30s.
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	// CommandTimeout bounds the relay's greeting and its reply to each
	// command. Default 5m (RFC 5321 §4.5.3.2).
	CommandTimeout time.Duration `toml:"command_timeout"`
	// DataTimeout bounds the relay's reply to the final dot. Default 10m
	// (RFC 5321 §4.5.3.2.6).
	DataTimeout time.Duration `toml:"data_timeout"`
}

// Sieve configures the Sieve scripts run for each recipient, in
// Pigeonhole's order: before, the user's script (or default), after.
type Sieve struct {
	// Enabled runs Sieve. Default true.
	Enabled bool `toml:"enabled"`
	// SpamFolder is where the built-in before script files mail flagged
	// X-Spam-Flag: YES (created on demand). Empty turns that script off.
	// Default "Spam".
	SpamFolder string `toml:"spam_folder"`
	// Before and After are the administrator's script paths
	// (Pigeonhole's sieve_before, sieve_after).
	Before []string `toml:"before"`
	After  []string `toml:"after"`
	// Default runs for users without a script (sieve_default).
	Default string `toml:"default"`
	// UserScript is the path of a user's active script: %h home (the
	// users file's, else the directory holding the Maildir), %u, %n, %d.
	// Default "%h/.dovecot.sieve", where Dovecot keeps it. Empty: no user
	// scripts.
	UserScript string `toml:"user_script"`
	// UserDir is the directory of a user's scripts, where include
	// :personal finds NAME.sieve (Dovecot's ~/sieve); same expansions as
	// UserScript. Default "%h/sieve". Empty: no personal includes.
	UserDir string `toml:"user_dir"`
	// GlobalDir is where include :global finds NAME.sieve (Pigeonhole's
	// sieve_global). Default "": no global includes.
	GlobalDir string `toml:"global_dir"`
	// MaxScriptSize is the largest script file read, in bytes, for user
	// and administrator scripts and every included script. Default 1 MiB.
	MaxScriptSize int `toml:"max_script_size"`
	// MaxRedirects per message and recipient. Default 4.
	MaxRedirects int `toml:"max_redirects"`
	// MaxActions per script run. Default 32.
	MaxActions int `toml:"max_actions"`
}

// Rules configures the SpamAssassin-compatible rule engine.
type Rules struct {
	// Mode is where rules come from: "auto" (default: SpamAssassin's
	// installed rules if any, see AutoRuleDirs, else the built-in set),
	// "builtin" (sluice's small built-in set), "dirs" (Dirs only) or
	// "off" (no scoring, no X-Spam headers).
	Mode string `toml:"mode"`
	// Dirs are rule directories or files read in order (system rules
	// first, then local ones) when Mode is "dirs".
	Dirs []string `toml:"dirs"`
	// Budget bounds the time rule evaluation may take per message; past
	// it the remaining regex rules are skipped, the message is delivered
	// and the event logged and counted. Default 2s.
	Budget time.Duration `toml:"budget"`
	// CacheDir holds the compiled-rules cache, which lets check, lint,
	// pipe and serve restarts skip translating the rules again. Empty
	// (default): /var/cache/sluice when it can be written, else the
	// user's cache directory ($XDG_CACHE_HOME/sluice). "off": no cache.
	CacheDir string `toml:"cache_dir"`
	// ImitateSpamAssassin makes X-Spam-Checker-Version and the _VERSION_
	// and _SUBVERSION_ tags read as SpamAssassin 4.0.1's, for tools that
	// look for "SpamAssassin" there. Default false: the field names sluice.
	ImitateSpamAssassin bool `toml:"imitate_spamassassin"`
	// UserPrefs is the path template of each recipient's SpamAssassin
	// user_prefs file (%h home, %u user, %n local part, %d domain, ~
	// home), as "%h/.spamassassin/user_prefs". Empty (default): off.
	UserPrefs string `toml:"user_prefs"`
	// UserPrefsMaxSize bounds a user_prefs file in bytes. Default 262144.
	UserPrefsMaxSize int `toml:"user_prefs_max_size"`
	// Lang is the locale whose "lang" lines of the rule files apply
	// (descriptions in reports), as "de_DE.UTF-8". Empty (default):
	// English, SpamAssassin's choice for the C locale.
	Lang string `toml:"lang"`
}

// Auth configures SPF, DKIM, DMARC and DNSBL checks and the DNS resolver
// they share.
type Auth struct {
	// Enabled turns the checks on. Default true.
	Enabled bool `toml:"enabled"`
	// AuthServID names this host in Authentication-Results; incoming
	// fields with it are removed as forgeries. Default: lmtp.hostname.
	AuthServID string `toml:"authserv_id"`
	// DNS lists resolvers as host:port; empty uses /etc/resolv.conf.
	DNS []string `toml:"dns"`
	// DNSTimeout bounds one DNS query. Default 2s.
	DNSTimeout time.Duration `toml:"dns_timeout"`
	// Timeout bounds all checks of one message. Default 20s.
	Timeout time.Duration `toml:"timeout"`
	// DKIMMaxSignatures verified per message. Default 5.
	DKIMMaxSignatures int `toml:"dkim_max_signatures"`
	// DKIMMinRSABits is the smallest RSA key accepted. Default 1024.
	DKIMMinRSABits int `toml:"dkim_min_rsa_bits"`
	// EnforceDMARC rejects mail whose DMARC policy is reject (550 5.7.1)
	// and files quarantine mail into QuarantineFolder. Default false: the
	// results only feed the score.
	EnforceDMARC bool `toml:"enforce_dmarc"`
	// QuarantineFolder receives DMARC-quarantined mail. Default "Spam".
	QuarantineFolder string `toml:"quarantine_folder"`
	// DNSBLs are the blocklists the client IP is looked up in, and the
	// rule-file zones turned off (Disable).
	DNSBLs []DNSBL `toml:"dnsbl"`
	// --- rule-file network tests (docs/dnsbl.md) ---
	// DNSBLMaxQueries bounds the DNS questions the rule files' DNSBL and
	// URI blocklist rules ask for one message. Default 200.
	DNSBLMaxQueries int `toml:"dnsbl_max_queries"`
	// DNSBLTimeout bounds those lookups for one message (and is bounded by
	// the rule files' rbl_timeout). Default 5s.
	DNSBLTimeout time.Duration `toml:"dnsbl_timeout"`
}

// DNSBL is one blocklist zone ([[auth.dnsbl]]) and what its answers mean.
type DNSBL struct {
	// Zone is queried as <reversed IP>.<zone>, e.g. "zen.spamhaus.org".
	Zone string `toml:"zone"`
	// Rules maps an answer test to the rule it fires, as SpamAssassin's
	// check_rbl_sub: "127.0.0.2" (exact), "127.0.0.[45]" (regexp) or a
	// bitmask "8". The rule is usually one of the stock RCVD_IN_* names,
	// or one defined in local rules as "header NAME eval:check_rbl(...)".
	Rules map[string]string `toml:"rules"`
	// Disable turns the zone off: the rule files' queries to it are not
	// made, so their rules never fire. Rules is then not needed.
	Disable bool `toml:"disable"`
}

// Filter configures the content-filter modes, where Postfix delivers and
// sluice only adds its headers: `sluice pipe` and the SMTP proxy.
type Filter struct {
	// Sendmail is the command `sluice pipe` re-injects with
	// (sendmail -G -i -f SENDER -- RECIPIENT...). Default "/usr/sbin/sendmail".
	Sendmail string `toml:"sendmail"`
	// OnError is "tempfail" (default: the MTA keeps the message and
	// retries) or "pass" (re-inject it unscanned, with an
	// X-Sluice-Unscanned header saying why).
	OnError string `toml:"on_error"`
	// Listen lists loopback host:port addresses for the SMTP after-queue
	// filter (Postfix content_filter = smtp:[127.0.0.1]:10025). Empty: off.
	Listen []string `toml:"listen"`
	// NextHop is where the SMTP filter re-injects, e.g. "127.0.0.1:10026".
	NextHop string `toml:"next_hop"`
	// NextHopTimeout bounds the whole re-injection of one message into
	// NextHop, greeting to QUIT. Default 5m.
	NextHopTimeout time.Duration `toml:"next_hop_timeout"`
	// Server is the spamd listener of a running `sluice serve` (host:port
	// or unix:/path) that `sluice pipe` hands its message to instead of
	// loading the rules itself; pipe filters in-process when none answers.
	// Empty (default): the first [spamd] listen address, if any. "off":
	// always in-process.
	Server string `toml:"server"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port serving /metrics, /healthz and /readyz.
	// Empty disables it. Default "127.0.0.1:9425".
	Listen string `toml:"listen"`
	// Pprof adds Go's profiler (net/http/pprof) under /debug/pprof/ on
	// the same listener. Default false.
	Pprof bool `toml:"pprof"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `toml:"level"`
	// Format is text or json. Default text.
	Format string `toml:"format"`
}

// LMTP configures the LMTP listener Postfix delivers to.
type LMTP struct {
	// Listen lists addresses: "host:port" for TCP, "unix:/path" for a unix
	// socket. Default ["127.0.0.1:2424"].
	Listen []string `toml:"listen"`
	// SocketMode is the permission of unix sockets, in octal. Default "0660".
	SocketMode string `toml:"socket_mode"`
	// SocketGroup, when set, is the group (name or gid) given to unix sockets.
	SocketGroup string `toml:"socket_group"`
	// Hostname names this host in the greeting and in Received headers.
	// Default: the system's hostname.
	Hostname string `toml:"hostname"`
	// MaxMessageSize in bytes, advertised with SIZE. Default 52428800 (50 MiB).
	MaxMessageSize int64 `toml:"max_message_size"`
	// MaxRecipients per transaction. Default 1000.
	MaxRecipients int `toml:"max_recipients"`
	// ReadTimeout and WriteTimeout bound each protocol read and write.
	// Default 5m each.
	ReadTimeout  time.Duration `toml:"read_timeout"`
	WriteTimeout time.Duration `toml:"write_timeout"`
	// ShutdownTimeout bounds how long SIGTERM waits for deliveries in
	// flight. Default 30s.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// XForwardNetworks lists the networks (CIDRs or addresses) of TCP
	// peers that may send Postfix's XFORWARD, which sets the client
	// address SPF and DNSBLs check. Unix socket peers always may. Default
	// empty: no TCP peer may.
	XForwardNetworks []string `toml:"xforward_networks"`
	// MaxConnections open at once; more are answered 421. Default 100.
	MaxConnections int `toml:"max_connections"`
	// MaxSessionTime caps one connection. Default 30m.
	MaxSessionTime time.Duration `toml:"max_session_time"`
	// MaxBytesInFlight caps the message bytes held by all transactions
	// together; past it new mail gets 452. Default 209715200 (200 MiB).
	MaxBytesInFlight int64 `toml:"max_bytes_in_flight"`
	// MessageTimeout bounds the processing of one message. Default 5m,
	// under Postfix's lmtp_data_done_timeout (600s).
	MessageTimeout time.Duration `toml:"message_timeout"`
	// SpoolThreshold is the size in bytes past which a message is written
	// to a file in SpoolDir while it is read, instead of being held in
	// memory. Default 1048576 (1 MiB); negative: never.
	SpoolThreshold int64 `toml:"spool_threshold"`
	// SpoolDir holds those files (mode 0700, created at start). Default
	// ".sluice-spool" under delivery.mail_root.
	SpoolDir string `toml:"spool_dir"`
}

// SpoolPath returns the spool directory in force: SpoolDir, else
// ".sluice-spool" under mailRoot.
func (l LMTP) SpoolPath(mailRoot string) string {
	if l.SpoolDir != "" {
		return l.SpoolDir
	}
	return filepath.Join(mailRoot, ".sluice-spool")
}

// XForwardNets returns XForwardNetworks parsed; a bare address is a
// network of one.
func (l LMTP) XForwardNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, s := range l.XForwardNetworks {
		if ip := net.ParseIP(s); ip != nil {
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("%w: network %q: want a CIDR such as 10.0.0.0/24 or an address", ErrInvalid, s)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// Delivery configures which recipients exist and where their mail goes.
type Delivery struct {
	// MailRoot is the directory relative mail locations are resolved
	// against. Default "./maildata".
	MailRoot string `toml:"mail_root"`
	// MailLocation is the Maildir path template: %u full address, %n local
	// part (without detail), %d domain, %h the user's home from UsersFile.
	// A relative result is taken under MailRoot. Default "%d/%n/Maildir".
	MailLocation string `toml:"mail_location"`
	// RecipientDelimiter separates a local part from its detail
	// (bob+lists). Empty disables details. Default "+".
	RecipientDelimiter string `toml:"recipient_delimiter"`
	// Domains accepted; empty accepts every domain.
	Domains []string `toml:"domains"`
	// UsersFile is a Dovecot passwd-file style user list; when set, only
	// the users it lists are accepted.
	UsersFile string `toml:"users_file"`
	// Owner owns delivered mail when sluice runs as root: a user name or
	// "uid:gid". Default: the owner of MailRoot if that is not root, else
	// nobody (65534:65534), with a warning.
	Owner string `toml:"owner"`
	// DomainOwners overrides Owner per domain.
	DomainOwners map[string]string `toml:"domain_owners"`
	// QuotaRule is every user's Maildir++ quota in Dovecot's quota_rule
	// syntax, such as "*:storage=1G" or "*:storage=1G:messages=10000";
	// a user's userdb_quota_rule extra field in UsersFile overrides it.
	// Default "": no quota.
	QuotaRule string `toml:"quota_rule"`
	// QuotaFullTempfail answers a recipient over quota 452 4.2.2 instead
	// of 552 5.2.2, as Dovecot's LMTP setting of the same name. Default
	// false.
	QuotaFullTempfail bool `toml:"quota_full_tempfail"`
}

// Default returns the embedded defaults: LMTP on 127.0.0.1:2424, mail under
// ./maildata, every recipient of every domain accepted.
func Default() Config {
	return Config{
		Log: Log{Level: "info", Format: "text"},
		LMTP: LMTP{
			Listen:          []string{"127.0.0.1:2424"},
			SocketMode:      "0660",
			MaxMessageSize:  50 << 20,
			MaxRecipients:   1000,
			ReadTimeout:     5 * time.Minute,
			WriteTimeout:    5 * time.Minute,
			ShutdownTimeout: 30 * time.Second,
			// Room for four messages of the largest size at once; a
			// typical message is a thousand times smaller.
			MaxBytesInFlight: 200 << 20,
			MaxConnections:   100,
			MaxSessionTime:   30 * time.Minute,
			MessageTimeout:   5 * time.Minute,
			SpoolThreshold:   1 << 20,
		},
		Delivery: Delivery{
			MailRoot:           "./maildata",
			MailLocation:       "%d/%n/Maildir",
			RecipientDelimiter: "+",
			QuotaRule:          "",
			QuotaFullTempfail:  false,
		},
		Metrics:  Metrics{Listen: "127.0.0.1:9425"},
		Policy:   defaultPolicy(),
		Bayes:    Bayes{Enabled: true, LockTimeout: 2 * time.Second},
		Redis:    Redis{KeyPrefix: "sluice:", Timeout: time.Second},
		Filter:   Filter{Sendmail: "/usr/sbin/sendmail", OnError: "tempfail", NextHopTimeout: 5 * time.Minute},
		Rules:    Rules{Mode: "auto", Budget: 2 * time.Second, UserPrefsMaxSize: 256 << 10},
		Spamd:    defaultSpamd(),
		Outbound: Outbound{Relay: "127.0.0.1:25", ConnectTimeout: 30 * time.Second, CommandTimeout: 5 * time.Minute, DataTimeout: 10 * time.Minute},
		Sieve:    Sieve{Enabled: true, SpamFolder: "Spam", UserScript: "%h/.dovecot.sieve", UserDir: "%h/sieve", MaxScriptSize: 1 << 20, MaxRedirects: 4, MaxActions: 32},
		Auth: Auth{
			Enabled:           true,
			DNSTimeout:        2 * time.Second,
			Timeout:           20 * time.Second,
			DKIMMaxSignatures: 5,
			DKIMMinRSABits:    1024,
			DNSBLMaxQueries:   200,
			DNSBLTimeout:      5 * time.Second,
			QuarantineFolder:  "Spam",
		},
		Milter: defaultMilter(),
	}
}

// Load reads the TOML file at path over the defaults and validates the
// result. Unknown keys are errors reported as "path:line: unknown key k".
func Load(path string) (Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes src (named name in errors) over the defaults and validates it.
func Parse(name string, src []byte) (Config, error) {
	cfg := Default()
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return Config{}, fmt.Errorf("%s:%d: %s", name, perr.Position.Line, perr.Message)
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var msgs []string
		for _, k := range und {
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %s", name, keyLine(src, k), k))
		}
		return Config{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// keyLine finds the line where key k is set: the first line assigning its
// last component after the header of its table. Zero when not found.
func keyLine(src []byte, k toml.Key) int {
	table := strings.Join(k[:len(k)-1], ".")
	leaf := k[len(k)-1]
	inTable := table == ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] ")
			inTable = name == table
			if inTable && table != "" && len(k) >= 2 && name == strings.Join(k, ".") {
				return n
			}
			continue
		}
		if !inTable {
			continue
		}
		if before, _, ok := strings.Cut(line, "="); ok && strings.Trim(strings.TrimSpace(before), `"`) == leaf {
			return n
		}
	}
	return 0
}

// Validate checks values that decode fine but cannot work.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format %q: want text or json", c.Log.Format)
	}
	for _, a := range c.LMTP.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			if path == "" {
				bad("lmtp.listen %q: empty socket path", a)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("lmtp.listen %q: want host:port or unix:/path", a)
		}
	}
	if a := c.Metrics.Listen; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("metrics.listen %q: want host:port or empty", a)
		}
	}
	switch c.Filter.OnError {
	case "tempfail", "pass":
	default:
		bad("filter.on_error %q: want tempfail or pass", c.Filter.OnError)
	}
	for _, a := range c.Filter.Listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("filter.listen %q: want host:port", a)
		}
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"outbound.connect_timeout", c.Outbound.ConnectTimeout},
		{"outbound.command_timeout", c.Outbound.CommandTimeout},
		{"outbound.data_timeout", c.Outbound.DataTimeout},
		{"filter.next_hop_timeout", c.Filter.NextHopTimeout},
		{"bayes.lock_timeout", c.Bayes.LockTimeout},
		{"redis.timeout", c.Redis.Timeout},
	} {
		if t.d <= 0 {
			bad("%s must be positive", t.key)
		}
	}
	if c.Redis.URL != "" {
		if err := checkRedisURL(c.Redis.URL); err != nil {
			bad("redis.url: %v", err)
		}
	}
	if (len(c.Redis.SentinelAddrs) > 0) != (c.Redis.SentinelMaster != "") {
		bad("redis.sentinel_addrs and redis.sentinel_master go together")
	}
	if len(c.Redis.SentinelAddrs) > 0 && c.Redis.URL == "" {
		bad("redis.sentinel_addrs is set but redis.url is empty")
	}
	if len(c.Redis.ClusterAddrs) > 0 {
		switch {
		case c.Redis.URL == "":
			bad("redis.cluster_addrs is set but redis.url is empty")
		case len(c.Redis.SentinelAddrs) > 0:
			bad("redis.cluster_addrs and redis.sentinel_addrs exclude each other")
		case !hasHashTag(c.Redis.KeyPrefix):
			bad("redis.cluster_addrs needs a hash tag in redis.key_prefix (e.g. \"{sluice}:\"): sluice's scripts touch several keys at once, which a cluster allows only within one slot")
		}
	}
	if len(c.Filter.Listen) > 0 && c.Filter.NextHop == "" {
		bad("filter.listen is set but filter.next_hop is empty")
	}
	switch c.Rules.Mode {
	case "auto", "builtin", "off":
	case "dirs":
		if len(c.Rules.Dirs) == 0 {
			bad("rules.mode is \"dirs\" but rules.dirs is empty")
		}
	default:
		bad("rules.mode %q: want auto, builtin, dirs or off", c.Rules.Mode)
	}
	if len(c.Rules.Dirs) > 0 && c.Rules.Mode != "dirs" {
		// A named rule directory that is silently not read is worse than
		// no start: the administrator believes their rules are in force.
		bad("rules.dirs is set but rules.mode is %q: set mode = \"dirs\" to read them", c.Rules.Mode)
	}
	for _, b := range c.Auth.DNSBLs {
		if b.Zone == "" || (len(b.Rules) == 0 && !b.Disable) {
			bad("auth.dnsbl: zone and rules (or disable = true) are required")
		}
	}
	for _, a := range c.Auth.DNS {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("auth.dns %q: want host:port", a)
		}
	}
	c.validateLMTP(bad)
	c.validateDelivery(bad)
	errs = append(errs, c.Policy.validate()...)
	c.validateMilter(bad)
	c.Spamd.validate(bad)
	return errors.Join(errs...)
}

// validateLMTP checks the [lmtp] limits and modes (and sieve's script
// size, which lmtp's limits bound with it).
func (c *Config) validateLMTP(bad func(format string, args ...any)) {
	if _, err := c.LMTP.SocketModeBits(); err != nil {
		bad("lmtp.socket_mode %q: want an octal mode such as 0660", c.LMTP.SocketMode)
	}
	if c.LMTP.MaxMessageSize <= 0 {
		bad("lmtp.max_message_size must be positive")
	}
	if c.LMTP.MaxRecipients <= 0 {
		bad("lmtp.max_recipients must be positive")
	}
	if c.Sieve.MaxScriptSize <= 0 {
		bad("sieve.max_script_size must be positive")
	}
	if _, err := c.LMTP.XForwardNets(); err != nil {
		bad("lmtp.xforward_networks: %v", err)
	}
	if c.LMTP.MaxConnections <= 0 {
		bad("lmtp.max_connections must be positive")
	}
	if c.LMTP.MaxSessionTime <= 0 {
		bad("lmtp.max_session_time must be positive")
	}
	if c.LMTP.MessageTimeout <= 0 {
		bad("lmtp.message_timeout must be positive")
	}
	if c.LMTP.SpoolThreshold == 0 {
		bad("lmtp.spool_threshold must not be 0: a size in bytes, or -1 to keep every message in memory")
	}
	if c.LMTP.MaxBytesInFlight < c.LMTP.MaxMessageSize {
		// A message of the largest size could never be taken: Postfix
		// would retry it until it bounces.
		bad("lmtp.max_bytes_in_flight (%d) must be at least lmtp.max_message_size (%d)", c.LMTP.MaxBytesInFlight, c.LMTP.MaxMessageSize)
	}
}

// validateDelivery checks [delivery]: where mail goes and who owns it.
func (c *Config) validateDelivery(bad func(format string, args ...any)) {
	if c.Delivery.MailRoot == "" {
		bad("delivery.mail_root is empty")
	}
	if c.Delivery.MailLocation == "" {
		bad("delivery.mail_location is empty")
	}
	if len(c.Delivery.RecipientDelimiter) > 1 {
		bad("delivery.recipient_delimiter %q: want one character or empty", c.Delivery.RecipientDelimiter)
	}
	if c.Delivery.Owner != "" {
		if _, err := ParseOwner(c.Delivery.Owner); err != nil {
			bad("delivery.owner: %v", err)
		}
	}
	for d, o := range c.Delivery.DomainOwners {
		if _, err := ParseOwner(o); err != nil {
			bad("delivery.domain_owners[%s]: %v", d, err)
		}
	}
	if c.Delivery.QuotaRule != "" {
		if _, err := c.Delivery.Quota(); err != nil {
			bad("delivery.quota_rule: %v", err)
		}
	}
}

// hasHashTag reports whether key holds a Redis Cluster hash tag: a
// non-empty "{...}", whose content alone picks the slot.
func hasHashTag(key string) bool {
	i := strings.IndexByte(key, '{')
	return i >= 0 && strings.IndexByte(key[i+1:], '}') > 0
}

// Quota returns the limits of QuotaRule; zero for none. The rule must be
// the default rule ("*" or "?"): per-mailbox rules are Dovecot's.
func (d Delivery) Quota() (maildir.Quota, error) {
	if d.QuotaRule == "" {
		return maildir.Quota{}, nil
	}
	q, mailbox, err := maildir.ParseQuotaRule(d.QuotaRule)
	if err != nil {
		return maildir.Quota{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if mailbox != "*" && mailbox != "?" {
		return maildir.Quota{}, fmt.Errorf("%w: quota rule %q: want the default rule, \"*:...\"", ErrInvalid, d.QuotaRule)
	}
	return q, nil
}

// SocketModeBits returns SocketMode as permission bits.
func (l LMTP) SocketModeBits() (os.FileMode, error) {
	m, err := strconv.ParseUint(l.SocketMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%w: socket mode %q", ErrInvalid, l.SocketMode)
	}
	return os.FileMode(m), nil
}

// Owner is a numeric uid/gid pair.
type Owner struct{ UID, GID int }

// ParseOwner reads "uid:gid" or a user name looked up in the system's
// user database (its primary group is used).
func ParseOwner(s string) (Owner, error) {
	if u, g, ok := strings.Cut(s, ":"); ok {
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return Owner{}, fmt.Errorf("%w: owner %q: want uid:gid or a user name", ErrInvalid, s)
		}
		return Owner{UID: uid, GID: gid}, nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return Owner{}, fmt.Errorf("%w: owner %q: %v", ErrInvalid, s, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Owner{UID: uid, GID: gid}, nil
}

// checkRedisURL checks the form go-redis's ParseURL reads. Errors show the
// URL without its password.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL: want redis://host:port/db or rediss://host:port/db")
	}
	shown := u.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("%q: want redis://host:port/db or rediss://host:port/db", shown)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", shown)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("%q: database %q is not a number", shown, db)
		}
	}
	return nil
}
