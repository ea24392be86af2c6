package parity

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// SARule is what SpamAssassin's own configuration parser makes of one rule
// (Mail::SpamAssassin::Conf after init, local tests only).
type SARule struct {
	Name  string
	Score float64 // score set 0 (no network, no Bayes)
	Net   bool    // tflags net
	// Eval is the eval: function the rule calls ("" for regex and meta
	// rules); Registered reports that a loaded plugin provides it.
	Eval       string
	Registered bool
}

// Evaluated reports whether SpamAssassin runs the rule in local mode:
// scored, its eval function provided, and not a network eval rule.
func (r SARule) Evaluated() bool {
	if r.Score == 0 {
		return false
	}
	if r.Eval != "" && (!r.Registered || r.Net) {
		return false
	}
	return true
}

// saDump is run by perl with the rules and site directories as arguments.
const saDump = `use strict; use Mail::SpamAssassin;
my $sa = Mail::SpamAssassin->new({rules_filename => $ARGV[0], site_rules_filename => $ARGV[1],
  userprefs_filename => "/dev/null", local_tests_only => 1, dont_copy_prefs => 1});
$sa->init(0);
my $c = $sa->{conf};
my %ev;
for my $fn (keys %{$c->{eval_to_rule}}) { $ev{$_} = $fn for @{$c->{eval_to_rule}{$fn}} }
for my $name (sort keys %{$c->{test_types}}) {
  my $net = ($c->{tflags}{$name} // '') =~ /\bnet\b/ ? 1 : 0;
  my $fn = $ev{$name} // '';
  my $reg = ($fn ne '' && $c->{eval_plugins}{$fn}) ? 1 : 0;
  print join("\t", $name, $c->{scores}{$name} // 0, $net, $fn, $reg), "\n";
}
`

// LoadSARules asks SpamAssassin's Perl modules which rules they load from
// rulesDir with the site configuration in siteDir (see WriteSite).
func LoadSARules(ctx context.Context, rulesDir, siteDir string) (map[string]SARule, error) {
	cmd := exec.CommandContext(ctx, "perl", "-e", saDump, rulesDir, siteDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: perl: %w: %s", ErrSpamd, err, stderr.String())
	}
	m := map[string]SARule{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		sc, _ := strconv.ParseFloat(f[1], 64)
		m[f[0]] = SARule{Name: f[0], Score: sc, Net: f[2] == "1", Eval: f[3], Registered: f[4] == "1"}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: perl listed no rules: %s", ErrSpamd, stderr.String())
	}
	return m, nil
}
