#!/usr/bin/perl
# sa-relays.pl FILE... prints, for each message, SpamAssassin's relay
# pseudo-headers: file, then X-Spam-Relays-Trusted, -Untrusted, -Internal,
# -External and LASTEXTERNALIP, tab-separated. Configuration lines in the
# environment variable SA_RELAYS_CONF (e.g. trusted_networks) are added.
# Used by TestRelaysAgainstSpamAssassin -update.
#
# sa-relays.pl -rules FILE... runs SpamAssassin's local tests (Debian's
# plugin loaders, no Bayes) on each message instead and prints the file and
# every rule that hit (sub-rules included), sorted and comma-separated.
# Used by TestRelayRulesAgainstSA -update.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my $rules = @ARGV && $ARGV[0] eq '-rules' ? shift @ARGV : '';
my $site = tempdir(CLEANUP => 1);
my $conf = $ENV{SA_RELAYS_CONF} || '';
if ($rules) {
  # The plugin loaders, without the machine's local.cf.
  for my $pre (glob('/etc/spamassassin/*.pre')) {
    system('cp', $pre, $site) == 0 or die "cp $pre: $?";
  }
  $conf = "use_bayes 0\nbayes_auto_learn 0\nuse_auto_welcomelist 0\n";
}
if ($conf) {
  open(my $cf, '>', "$site/local.cf") or die;
  print $cf $conf, "\n";
  close $cf;
}
my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1,
  rules_filename => '/usr/share/spamassassin', site_rules_filename => $site,
  userprefs_filename => '/dev/null',
});
$sa->init(0);
for my $f (@ARGV) {
  open(my $fh, '<', $f) or die "$f: $!";
  my @lines = <$fh>;
  close $fh;
  my $msg = $sa->parse(\@lines);
  my $name = $f; $name =~ s{.*/([^/]+/[^/]+)$}{$1};
  my $pms;
  if ($rules) {
    $pms = $sa->check($msg);
    my $hit = $pms->{tests_already_hit} || {};
    print join("\t", $name, join(',', sort grep { $hit->{$_} } keys %$hit)), "\n";
  } else {
    $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
    $pms->extract_message_metadata();
    my @v = map { my $x = $pms->get($_); $x = '' unless defined $x; chomp $x; $x =~ s/[\t\n]/ /g; $x }
      qw(X-Spam-Relays-Trusted X-Spam-Relays-Untrusted X-Spam-Relays-Internal X-Spam-Relays-External);
    my $ip = $pms->get_tag('LASTEXTERNALIP'); $ip = '' unless defined $ip;
    print join("\t", $name, @v, $ip), "\n";
  }
  $pms->finish(); $msg->finish();
}
