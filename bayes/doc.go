// Package bayes is SpamAssassin's Bayes classifier (Plugin/Bayes.pm and
// Bayes/CombineChi.pm of SpamAssassin 4.0): the same tokens, stored the
// same way, combined the same way, so a database learned by sa-learn can
// be imported and BAYES_* rules fire as they would in SpamAssassin.
//
//   - [Tokenize] turns a [mail.Message] into tokens: the visible rendered
//     body (Subject first), invisible HTML text with the prefix "I*:", the
//     URI list, and the header fields less Bayes.pm's ignored list and
//     bayes_ignore_header, with the header prefixes ("H*r:" for the last
//     two Received, "H*F:" for From, "H*Ad:" for From, To and Cc, ...);
//     addresses, Message-Ids, Received and Content-Type are pre-chewed as
//     in Bayes.pm. Each token is stored as the low 40 bits of its SHA-1
//     ([Token]), the form of sa-learn --backup.
//
//   - [Classifier.Score] computes Robinson's f(w) per token and combines the
//     150 strongest tokens at least 0.346 from neutral with Fisher's
//     chi-squared method; no answer before bayes_min_spam_num and
//     bayes_min_ham_num messages are learned.
//
//   - [Classifier.Learn] and [Classifier.Forget] change a [Store]
//     atomically, keyed by SpamAssassin's message ids ([MessageIDs]): a
//     message is counted once, learning it as the other class moves it.
//
//   - [ReadSABackup] reads an sa-learn --backup dump, which a [Restorer]
//     store takes over, so a site keeps the training it has.
//
// The store is an interface; [MemStore] is in memory and package
// boltstore keeps one bbolt file shared by deliveries and learners.
//
// Known divergences from SpamAssassin:
//
//   - The metadata pseudo-headers SpamAssassin tokenizes (X-Spam-Relays-*
//     from its Received analysis, X-AuthorDomain, ...) come from the
//     caller ([Classifier.Metadata]); without them about 6% of
//     SpamAssassin's tokens are missing.
//   - bayes_token_sources "mimepart", bayes_ignore_from/to and the
//     journal are not implemented ([ReadSABackup] reads journal-era
//     dumps). Expiry ([Expiry]) is the stores' own; the bbolt store's
//     cutoff is exact where BayesStore.pm picks a power of two of 12
//     hours. Stop word lists other than the stock English one need
//     translating from Perl byte escapes ([NewStopwords]).
//   - Perl walks a hash in random order where it caps header tokens at
//     10000 and picks among equally strong tokens at the 150th place; this
//     package sorts, so its choice is deterministic.
//   - The receive time used as token atime reads the first dated Received
//     field, then Date (Util.pm receive_date also skips local and
//     fetchmail hops and tries the mbox From line).
package bayes
