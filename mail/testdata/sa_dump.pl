#!/usr/bin/perl
use strict; use warnings;
use Mail::SpamAssassin;
use JSON::PP;
my $sa = Mail::SpamAssassin->new({ local_tests_only => 1, dont_copy_prefs => 1, userprefs_filename => '/dev/null', site_rules_filename => '/nonexistent', rules_filename => '/usr/share/spamassassin', post_config_text => "use_bayes 0\n" });
$sa->init(1);
my $json = JSON::PP->new->canonical->ascii;
for my $f (@ARGV) {
  my $raw = do { open my $fh, "<", $f or die; local $/; <$fh> };
  my $msg = $sa->parse($raw, 1);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  my %o;
  $o{file} = $f;
  $o{body} = $pms->get_decoded_stripped_body_text_array();
  $o{rawbody} = $pms->get_decoded_body_text_array();
  $o{uris} = [ sort $pms->get_uri_list() ];
  $o{subject} = [ $pms->get('Subject') ];
  $o{from_addr} = [ $pms->get('From:addr') ];
  $o{from_name} = [ $pms->get('From:name') ];
  $o{to_raw} = [ $pms->get('To:raw') ];
  $o{msgid} = [ $pms->get('MESSAGEID') ];
  $o{from_host} = [ $pms->get('From:host') ];
  $o{from_addr_domain} = [ $pms->get('From:addr:domain') ];
  $o{rcvd_ip} = [ $pms->get('Received:first:ip') ];
  $o{tocc_addr} = [ $pms->get('ToCc:addr') ];
  $pms->get_decoded_stripped_body_text_array();
  my @h;
  for my $r (@{ $msg->{metadata}->{html_all} || [] }) {
    push @h, { map { ($_ => (defined $r->{$_} ? $r->{$_} + 0 : undef)) } qw(length html_length non_space_len image_area max_size min_size closed_extra_ratio bad_tag_ratio non_element_ratio obfuscation_ratio) };
    $h[-1]{title} = $r->{title} || [];
    $h[-1]{inside} = join(',', sort keys %{ $r->{inside} || {} });
  }
  $o{html} = \@h;
  $o{types} = [ map { $_->{type} } $msg->find_parts(qr/./) ];
  print $json->encode(\%o), "\n";
  $pms->finish; $msg->finish;
}
