package sieve

// addExtensionSpecs registers every extension's commands and tests; each
// extension lives in the file named for it.
func addExtensionSpecs(add func(*spec)) {
	variablesSpecs(add)
	imap4flagsSpecs(add)
	bodySpecs(add)
	spamtestSpecs(add)
	dateSpecs(add)
	editheaderSpecs(add)
	vacationSpecs(add)
	includeSpecs(add)
	duplicateSpecs(add)
	mailboxSpecs(add)
	ihaveSpecs(add)
	notifySpecs(add)
	mimeSpecs(add)
}
