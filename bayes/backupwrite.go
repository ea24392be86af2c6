package bayes

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteSABackup writes b in the format of SpamAssassin's sa-learn --backup
// (BayesStore DBM backup_database, database version 3): the db_version
// line, the num_spam and num_nonspam lines, one "t" line per token (spam
// count, ham count, atime, the token's five bytes in hex) and one "s" line
// per learned message id (class, id). Tokens and ids are sorted, so a dump
// of the same database is the same text. ReadSABackup and sa-learn
// --restore read it back.
func WriteSABackup(w io.Writer, b *Backup) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "v\t3\tdb_version # this must be the first line!!!\n")
	fmt.Fprintf(bw, "v\t%d\tnum_spam\n", b.NSpam)
	fmt.Fprintf(bw, "v\t%d\tnum_nonspam\n", b.NHam)
	toks := make([]Token, 0, len(b.Tokens))
	for t := range b.Tokens {
		toks = append(toks, t)
	}
	slices.SortFunc(toks, func(x, y Token) int { return bytes.Compare(x[:], y[:]) })
	for _, t := range toks {
		c := b.Tokens[t]
		fmt.Fprintf(bw, "t\t%d\t%d\t%d\t%s\n", c.Spam, c.Ham, c.Atime, t)
	}
	ids := make([]string, 0, len(b.Seen))
	for id := range b.Seen {
		// restore_database splits on tabs and stops at the line end, so
		// an id with either cannot round-trip; learned ids never hold one.
		if strings.ContainsAny(id, "\t\r\n") {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(bw, "s\t%c\t%s\n", b.Seen[id], id)
	}
	return bw.Flush()
}
