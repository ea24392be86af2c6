#!/usr/bin/perl
# sa-relays.pl FILE... prints, for each message, SpamAssassin's relay
# pseudo-headers: file, then X-Spam-Relays-Trusted, -Untrusted, -Internal,
# -External and LASTEXTERNALIP, tab-separated. Configuration lines in the
# environment variable SA_RELAYS_CONF (e.g. trusted_networks) are added.
# Used by TestRelaysAgainstSpamAssassin -update.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my $site = tempdir(CLEANUP => 1);
if ($ENV{SA_RELAYS_CONF}) {
  open(my $cf, '>', "$site/local.cf") or die;
  print $cf $ENV{SA_RELAYS_CONF}, "\n";
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
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  $pms->extract_message_metadata();
  my @v = map { my $x = $pms->get($_); $x = '' unless defined $x; chomp $x; $x =~ s/[\t\n]/ /g; $x }
    qw(X-Spam-Relays-Trusted X-Spam-Relays-Untrusted X-Spam-Relays-Internal X-Spam-Relays-External);
  my $ip = $pms->get_tag('LASTEXTERNALIP'); $ip = '' unless defined $ip;
  my $name = $f; $name =~ s{.*/([^/]+/[^/]+)$}{$1};
  print join("\t", $name, @v, $ip), "\n";
  $pms->finish(); $msg->finish();
}
