package bayes

import "time"

// Config holds SpamAssassin's bayes_* settings that this package reads,
// under the names of the settings they mirror. The zero Config tokenizes
// nothing and learns nothing: start from [DefaultConfig] and change what
// the rule files set.
type Config struct {
	// UseBayes is use_bayes: learn and score at all. Default true.
	UseBayes bool
	// UseBayesRules is use_bayes_rules: let check_bayes fire. Learning
	// goes on when it is false. Default true.
	UseBayesRules bool
	// AutoLearn is bayes_auto_learn. Default true. The decision itself
	// (AutoLearnThreshold) belongs to the caller, which knows the score.
	AutoLearn bool
	// AutoLearnThresholdNonspam is bayes_auto_learn_threshold_nonspam:
	// a message scoring below it is learned as ham. Default 0.1.
	AutoLearnThresholdNonspam float64
	// AutoLearnThresholdSpam is bayes_auto_learn_threshold_spam: a
	// message scoring at least this is learned as spam. Default 12.0.
	AutoLearnThresholdSpam float64
	// AutoLearnOnError is bayes_auto_learn_on_error: auto-learn only when
	// Bayes disagrees with the verdict. Default false.
	AutoLearnOnError bool
	// MinHamNum and MinSpamNum are bayes_min_ham_num and
	// bayes_min_spam_num: Score gives no probability until this many of
	// each are learned. Default 200 each.
	MinHamNum, MinSpamNum int
	// IgnoreHeaders is bayes_ignore_header: field names, lower case,
	// never tokenized. Default none.
	IgnoreHeaders map[string]bool
	// MaxTokenLength is bayes_max_token_length: longer tokens become
	// "sk:" skip tokens. Default 15 (Bayes.pm MAX_TOKEN_LENGTH); a value
	// of zero or less means the default.
	MaxTokenLength int
	// TokenSources is bayes_token_sources. Default header, visible,
	// invisible and uri; "mimepart" is not supported.
	TokenSources TokenSources
	// UseHapaxes is bayes_use_hapaxes: use tokens seen in one message
	// only. Default true.
	UseHapaxes bool
	// Stopwords are the tokens dropped as stop words
	// (bayes_stopword_languages, bayes_stopword_xx; see [NewStopwords]).
	// Default the stock English list; nil disables.
	Stopwords *Stopwords
	// Expiry is how the store forgets old tokens. Default
	// [DefaultExpiry].
	Expiry Expiry
}

// Expiry holds the settings of token expiry (BayesStore.pm
// expire_old_tokens, BayesStore/Redis.pm). Stores take it in their
// options; each reads the fields that fit how it expires.
type Expiry struct {
	// MaxDBSize is bayes_expiry_max_db_size: an expiry run starts once
	// the database holds more tokens than this, and keeps the newest
	// max(75% of it, 100000). Default 150000. The bbolt store only.
	MaxDBSize int
	// Auto is bayes_auto_expire: expire as part of learning, at most
	// once per [ExpiryPeriod] (bbolt), or give token and seen keys a
	// time to live (Redis). Default true.
	Auto bool
	// TokenTTL is bayes_token_ttl: the time to live of a Redis token
	// key, renewed whenever the token is learned or touched. Default 3
	// weeks; zero or less means none.
	TokenTTL time.Duration
	// SeenTTL is bayes_seen_ttl: the time to live of a Redis seen entry.
	// Default 8 days; zero or less means none.
	SeenTTL time.Duration
}

// ExpiryPeriod is the least time between two automatic expiry runs
// (BayesStore.pm expiry_due: 43200 s), and the least spread of token
// atimes worth an automatic run.
const ExpiryPeriod = 12 * time.Hour

// ExpiryKeepMin is the fewest tokens an expiry run keeps (BayesStore.pm
// expire_old_tokens_trapped): with the default MaxDBSize the 75% rule
// keeps 112500.
const ExpiryKeepMin = 100000

// ExpiryKeep returns how many tokens an expiry run keeps:
// max(MaxDBSize * 0.75, ExpiryKeepMin), as bayes_expiry_pct and the floor
// of BayesStore.pm give it.
func (e Expiry) ExpiryKeep() int {
	return max(e.MaxDBSize*3/4, ExpiryKeepMin)
}

// DefaultExpiry returns SpamAssassin's defaults (Conf.pm).
func DefaultExpiry() Expiry {
	return Expiry{MaxDBSize: 150000, Auto: true, TokenTTL: 21 * 24 * time.Hour, SeenTTL: 8 * 24 * time.Hour}
}

// TokenSources selects where tokens come from (bayes_token_sources).
type TokenSources struct {
	Header, Visible, Invisible, URI bool
}

// DefaultConfig returns SpamAssassin 4.0's defaults (Conf.pm, Bayes.pm
// and the stock 10_default_prefs.cf and 60_bayes_stopwords.cf).
func DefaultConfig() Config {
	return Config{
		UseBayes:                  true,
		UseBayesRules:             true,
		AutoLearn:                 true,
		AutoLearnThresholdNonspam: 0.1,
		AutoLearnThresholdSpam:    12.0,
		MinHamNum:                 200,
		MinSpamNum:                200,
		MaxTokenLength:            maxTokenLength,
		TokenSources:              TokenSources{Header: true, Visible: true, Invisible: true, URI: true},
		UseHapaxes:                true,
		Stopwords:                 stopwordsEN,
		Expiry:                    DefaultExpiry(),
	}
}

// maxTokenLength is Bayes.pm MAX_TOKEN_LENGTH.
const maxTokenLength = 15

func (c Config) withDefaults() Config {
	if c.MaxTokenLength <= 0 {
		c.MaxTokenLength = maxTokenLength
	}
	return c
}
