#!/usr/bin/perl
# sa-relay-rules.pl FILE... runs SpamAssassin's local tests on each message
# and prints the file and every rule that hit (sub-rules included), sorted
# and comma-separated. Used by TestRelayRulesAgainstSA -update.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;

my $site = tempdir(CLEANUP => 1);
# The plugin loaders, without the machine's local.cf.
for my $pre (glob('/etc/spamassassin/*.pre')) {
  system('cp', $pre, $site) == 0 or die "cp $pre: $?";
}
open(my $cf, '>', "$site/local.cf") or die;
print $cf "use_bayes 0\nbayes_auto_learn 0\nuse_auto_welcomelist 0\n";
close $cf;
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
  my $pms = $sa->check($msg);
  my $hit = $pms->{tests_already_hit} || {};
  my @names = sort grep { $hit->{$_} } keys %$hit;
  my $name = $f; $name =~ s{.*/([^/]+/[^/]+)$}{$1};
  print join("\t", $name, join(',', @names)), "\n";
  $pms->finish(); $msg->finish();
}
