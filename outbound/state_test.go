package outbound_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/outbound/internal/statetest"
)

// TestStoreConformance runs the state back-end table against bbolt.
func TestStoreConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, ttl time.Duration) statetest.State {
		s, err := outbound.OpenStore(outbound.StoreConfig{Path: filepath.Join(t.TempDir(), "state.db"), DeliveryTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, false)
}
