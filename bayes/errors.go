package bayes

import "errors"

var (
	// ErrFormat reports malformed stored data or backup input.
	ErrFormat = errors.New("bayes: bad format")
	// ErrDisabled is returned by Learn and Forget when use_bayes is off.
	ErrDisabled = errors.New("bayes: disabled (use_bayes 0)")
)
