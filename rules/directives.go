package rules

import "strings"

// isIgnoredDirective reports SpamAssassin settings sluice accepts and
// ignores: they configure plugins, Bayes, DNS, reports or learning that
// sluice does not run. Every bayes_ setting rules/bayes.go does not read
// is ignored.
func isIgnoredDirective(key string) bool {
	return strings.HasPrefix(key, "bayes_") || ignoredDirectives[key]
}

// unsupportedDirectives are settings sluice reads past although they can
// change a verdict; lint reports each, with what is lost. Read only.
var unsupportedDirectives = map[string]string{
	"blacklist_from_rcvd":          "not checked",
	"blocklist_from_rcvd":          "not checked",
	"delist_uri_host":              "entries stay on the URI host lists",
	"envelope_sender_header":       "EnvelopeFrom comes from the relays and Return-Path only",
	"always_trust_envelope_sender": "not applied",
	"freemail_whitelist":           "not applied by the FreeMail evals",
	"freemail_welcomelist":         "not applied by the FreeMail evals",
	"ok_languages":                 "language tests (TextCat) are not run",
}

// ignoredDirectives are the settings isIgnoredDirective accepts besides
// the bayes_ ones; read only.
var ignoredDirectives = map[string]bool{
	// The relays package reads SpamAssassin's default list as synthetic
	// relays, which the DNSBL lookups also see.
	"originating_ip_headers":           true,
	"loadplugin":                       true,
	"tryplugin":                        true,
	"require_version":                  true,
	"test":                             true,
	"reuse":                            true,
	"use_bayes":                        true,
	"use_bayes_rules":                  true,
	"clear_util_rb":                    true,
	"url_shortener":                    true,
	"url_shortener_get":                true,
	"delist_addrlist":                  true,
	"adsp_override":                    true,
	"askdns":                           true,
	"dns_block_rule":                   true,
	"report_charset":                   true,
	"report_hostname":                  true,
	"dns_local_ports_avoid":            true,
	"dns_local_ports_permit":           true,
	"dns_server":                       true,
	"dns_options":                      true,
	"redirector_pattern":               true,
	"clear_originating_ip_headers":     true,
	"fns_ignore_headers":               true,
	"fns_ignore_dkim":                  true,
	"fns_check":                        true,
	"fns_extrachars":                   true,
	"freemail_import_welcomelist_auth": true,
	"freemail_import_whitelist_auth":   true,
	"freemail_max_rcvd":                true,
	"freemail_skip_bulk_envfrom":       true,
	"freemail_skip_when_over_max":      true,
	"use_auto_whitelist":               true,
	"use_txrep":                        true,
	"use_razor2":                       true,
	"use_pyzor":                        true,
	"use_dcc":                          true,
	"lock_method":                      true,
	"hashbl_acl_freemail":              true,
	"hashbl_ignore":                    true,
	"dkim_minimum_key_bits":            true,
	"textcat_max_languages":            true,
	"textcat_optimal_ngrams":           true,
	"inactivity_timeout":               true,
	"normalize_charset":                true,
	"report_safe_copy_headers":         true,
	"fold_headers":                     true,
	"add_header_once":                  true,
	"uri_detail":                       true,
	"header_host_in_list":              true,
	"check_rbl_accreditor":             true,
	"dkim_timeout":                     true,
	"spf_timeout":                      true,
	"dmarc_save_reports":               true,
	"asn_lookup":                       true,
	"asn_prefix":                       true,
	"use_learner":                      true,
	"parse_dkim_uris":                  true,
	"pdfinfo_max_parts":                true,
	"trusted_relays":                   true,
	"internal_relays":                  true,
}
