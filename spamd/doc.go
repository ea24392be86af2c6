// Package spamd serves the SPAMC/SPAMD protocol, so that spamc, Exim's
// `spam =` condition, amavis and other SpamAssassin clients can use sluice
// in place of spamd.
//
// The protocol is SpamAssassin's spamd/PROTOCOL, as spamd 4.0.1
// (spamd.raw) speaks it: one request per connection, a request line
// "COMMAND SPAMC/x.y", "Name: value" header lines, a blank line and the
// message; the reply starts "SPAMD/1.1 0 EX_OK" (or, for an error, the
// sysexits.h code and a text) and carries Spam: and Content-length
// headers as the client's protocol version allows. The commands are
// CHECK, SYMBOLS, REPORT, REPORT_IFSPAM, PROCESS, HEADERS, PING, SKIP and
// TELL (Message-class, Set and Remove headers; DidSet and DidRemove in
// the reply); the request headers read are Content-length, User, Compress
// (zlib) and the TELL ones, with spamd's exact (case-sensitive) names.
// Debian's spamc 4.0.1 sends protocol version 1.5.
//
// The package knows nothing of scoring: a Scanner, declared here and
// implemented over the pipeline by cmd/sluice, scores and learns.
//
// Divergences from spamd:
//   - every read is bounded: request and header lines (8 KiB), the number
//     of header lines (255, as spamd), the message (Config.MaxMessageSize,
//     compressed and inflated alike), the messages of all requests
//     together (Config.MaxBytesInFlight, past which a request is told
//     EX_TEMPFAIL), and the time to read the request (Config.ReadTimeout)
//     and to scan it (Config.ScanTimeout);
//   - a request whose Content-length exceeds MaxMessageSize is refused
//     with EX_DATAERR before its body is read (spamd reads any size);
//   - a Message-class other than spam or ham is a protocol error (spamd's
//     check of it never fails); Set: local without a Message-class is one
//     too (spamd learns such a message as ham);
//   - Set/Remove: remote (reporting to Razor, Pyzor, DCC) is accepted and
//     never done, so DidSet/DidRemove never name remote;
//   - a scanner failure is answered EX_TEMPFAIL and a panic EX_SOFTWARE,
//     where spamd's child dies and the client sees the connection close;
//   - a connection past Config.MaxConnections waits in the listen backlog
//     until one ends, as with spamd's --max-children, but no child pool is
//     forked: each connection is a goroutine.
package spamd
