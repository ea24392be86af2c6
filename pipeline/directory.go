package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/maildir"
)

// Errors returned by Directory.Resolve. They are permanent: the recipient
// does not exist or its address is unusable.
var (
	ErrBadAddress    = errors.New("pipeline: unsafe or malformed recipient address")
	ErrUnknownUser   = errors.New("pipeline: unknown user")
	ErrUnknownDomain = errors.New("pipeline: domain not accepted")
)

// Recipient is one resolved envelope recipient.
type Recipient struct {
	// Address is the recipient exactly as the MTA gave it.
	Address string
	// User is the canonical mailbox owner: lower-cased local part without
	// detail, @, lower-cased domain.
	User   string
	Local  string // local part without detail, lower case
	Detail string // the part after the recipient delimiter, as given
	Domain string // lower case
	// Maildir is the directory of the user's INBOX.
	Maildir string
	// Base is the trusted directory Maildir lies in: the mail root, or
	// the user's home for an absolute location under it, or "" (the
	// Maildir's parent). The Store walks from Base down without following
	// symlinks, so a user who replaces a directory of theirs by a symlink
	// cannot make sluice write outside it (maildir.Options.Base).
	Base string
	// Home is the user's home directory from the users file, if any.
	Home string
	// Owner owns the user's mail when sluice runs as root; nil: no chown.
	Owner *maildir.Owner
	// Quota limits the user's Maildir; zero is no limit.
	Quota maildir.Quota
}

// DirectoryConfig configures recipient resolution.
type DirectoryConfig struct {
	MailRoot           string
	MailLocation       string // %u, %n, %d, %h; relative paths are under MailRoot
	RecipientDelimiter string
	Domains            []string // empty: all
	Users              map[string]User
	// Owner is the default owner; DomainOwners override it per domain.
	Owner        *maildir.Owner
	DomainOwners map[string]maildir.Owner
	// Quota is every user's quota unless the users file gives one.
	Quota maildir.Quota
}

// User is one entry of a passwd-file style user list.
type User struct {
	Name  string
	Home  string
	Owner *maildir.Owner
	// Quota, when set, replaces DirectoryConfig.Quota for this user.
	Quota *maildir.Quota
}

// Directory decides which recipients exist and where their mail goes.
type Directory struct {
	cfg     DirectoryConfig
	domains map[string]bool
}

// NewDirectory returns a Directory for cfg.
func NewDirectory(cfg DirectoryConfig) *Directory {
	d := &Directory{cfg: cfg}
	if len(cfg.Domains) > 0 {
		d.domains = make(map[string]bool, len(cfg.Domains))
		for _, dom := range cfg.Domains {
			d.domains[strings.ToLower(dom)] = true
		}
	}
	return d
}

// Resolve checks addr and returns where its mail goes. Nothing is created
// on disk. Errors wrap ErrBadAddress, ErrUnknownDomain or ErrUnknownUser.
func (d *Directory) Resolve(addr string) (Recipient, error) {
	local, detail, domain, err := splitAddress(addr, d.cfg.RecipientDelimiter)
	if err != nil {
		return Recipient{}, err
	}
	if d.domains != nil && !d.domains[domain] {
		return Recipient{}, fmt.Errorf("%w: %s", ErrUnknownDomain, domain)
	}
	r := Recipient{
		Address: addr,
		User:    local + "@" + domain,
		Local:   local,
		Detail:  detail,
		Domain:  domain,
		Owner:   d.cfg.Owner,
		Quota:   d.cfg.Quota,
	}
	if o, ok := d.cfg.DomainOwners[domain]; ok {
		r.Owner = &o
	}
	if d.cfg.Users != nil {
		u, ok := d.cfg.Users[r.User]
		if !ok {
			return Recipient{}, fmt.Errorf("%w: %s", ErrUnknownUser, r.User)
		}
		r.Home = u.Home
		if u.Owner != nil {
			r.Owner = u.Owner
		}
		if u.Quota != nil {
			r.Quota = *u.Quota
		}
	}
	path, err := d.location(r)
	if err != nil {
		return Recipient{}, err
	}
	r.Maildir = path
	r.Base = d.base(r)
	return r, nil
}

// MailboxUser returns the mailbox addr is delivered to, as Resolve names
// it in Recipient.User with delimiter as the recipient delimiter: the local
// part lower-cased and without its detail, @, the domain lower-cased. It
// consults no users file or domain list; errors wrap ErrBadAddress.
func MailboxUser(addr, delimiter string) (string, error) {
	local, _, domain, err := splitAddress(addr, delimiter)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// splitAddress splits addr into its lower-cased local part without
// detail, the detail as given, and the lower-cased domain, and checks that
// each is safe in a path.
func splitAddress(addr, delimiter string) (local, detail, domain string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	local, domain = addr[:at], strings.ToLower(addr[at+1:])
	// A quoted local part is unwrapped; its content faces the same checks.
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		local = local[1 : len(local)-1]
	}
	if delimiter != "" {
		if i := strings.Index(local, delimiter); i > 0 {
			local, detail = local[:i], local[i+1:]
		}
	}
	local = strings.ToLower(local)
	if !safeComponent(local) || !safeComponent(domain) || !safeDetail(detail) {
		return "", "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	return local, detail, domain, nil
}

// base returns the trusted directory above r.Maildir: the mail root if the
// Maildir is inside it, else the user's home if it is inside that, else "".
func (d *Directory) base(r Recipient) string {
	for _, b := range []string{d.cfg.MailRoot, r.Home} {
		if b == "" {
			continue
		}
		b, err := filepath.Abs(b)
		if err != nil {
			continue
		}
		if within(b, r.Maildir) {
			return b
		}
	}
	return ""
}

// within reports whether the clean path p is dir or below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// location expands the mail_location template for r.
func (d *Directory) location(r Recipient) (string, error) {
	tmpl := d.cfg.MailLocation
	if strings.Contains(tmpl, "%h") && r.Home == "" {
		return "", fmt.Errorf("%w: %s has no home for %%h", ErrUnknownUser, r.User)
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '%' || i+1 == len(tmpl) {
			b.WriteByte(tmpl[i])
			continue
		}
		i++
		switch tmpl[i] {
		case 'u':
			b.WriteString(r.User)
		case 'n':
			b.WriteString(r.Local)
		case 'd':
			b.WriteString(r.Domain)
		case 'h':
			b.WriteString(r.Home)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(tmpl[i])
		}
	}
	p := b.String()
	if !filepath.IsAbs(p) {
		root := filepath.Clean(d.cfg.MailRoot)
		p = filepath.Join(root, p)
		// Defence in depth: components were checked, but the template is
		// the administrator's and must not lead outside the mail root.
		if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("%w: %s escapes the mail root", ErrBadAddress, r.User)
		}
	}
	return filepath.Clean(p), nil
}

// safeComponent reports whether s can be used as one path component: not
// empty, no leading dot, no "..", no separators, NUL or control bytes.
func safeComponent(s string) bool {
	if s == "" || s[0] == '.' || strings.Contains(s, "..") || len(s) > 255 {
		return false
	}
	return safeDetail(s)
}

// safeDetail reports whether s holds no byte that is dangerous in a path
// or a log line. Empty is fine.
func safeDetail(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

// LoadUsers reads a Dovecot passwd-file style user list:
//
//	user@domain:password:uid:gid:gecos:home:shell:extra
//
// Only the user, uid, gid and home fields and, among the extra fields (the
// rest of the line, space separated), the quota rules are used; empty
// fields are allowed. Blank lines and lines starting with # are ignored.
//
// A quota rule is an extra field userdb_quota_rule=<rule> (or quota_rule,
// and quota_rule2, quota_rule3... as Dovecot numbers them) in Dovecot's
// quota_rule syntax, such as userdb_quota_rule=*:storage=1G. Only the
// default rule ("*" or "?") sets the user's quota; rules for one mailbox
// are Dovecot's to apply and are skipped.
func LoadUsers(path string) (map[string]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: users file: %w", err)
	}
	defer f.Close()
	users := make(map[string]User)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ":")
		name := strings.ToLower(fields[0])
		if !strings.Contains(name, "@") {
			return nil, fmt.Errorf("%s:%d: user %q must be a full address", path, n, fields[0])
		}
		u := User{Name: name}
		if len(fields) > 3 && (fields[2] != "" || fields[3] != "") {
			uid, err1 := strconv.Atoi(fields[2])
			gid, err2 := strconv.Atoi(fields[3])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s:%d: bad uid:gid %q:%q", path, n, fields[2], fields[3])
			}
			u.Owner = &maildir.Owner{UID: uid, GID: gid}
		}
		if len(fields) > 5 {
			u.Home = fields[5]
		}
		if len(fields) > 7 {
			// The extra fields are the rest of the line: rules hold colons.
			q, err := quotaField(strings.Join(fields[7:], ":"))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			u.Quota = q
		}
		users[name] = u
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pipeline: users file %s: %w", path, err)
	}
	return users, nil
}

// quotaField returns the quota the default quota rule among the extra
// fields sets, or nil if there is none.
func quotaField(extra string) (*maildir.Quota, error) {
	var q *maildir.Quota
	for _, f := range strings.Fields(extra) {
		key, value, _ := strings.Cut(f, "=")
		key = strings.TrimPrefix(key, "userdb_")
		num, ok := strings.CutPrefix(key, "quota_rule")
		if !ok || strings.Trim(num, "0123456789") != "" {
			continue
		}
		rule, mailbox, err := maildir.ParseQuotaRule(value)
		if err != nil {
			return nil, err
		}
		if mailbox == "*" || mailbox == "?" {
			q = &rule
		}
	}
	return q, nil
}
