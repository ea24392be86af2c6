package bayes_test

import (
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
)

func TestMemStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bayes.Store { return &bayes.MemStore{} })
}
