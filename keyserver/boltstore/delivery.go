package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// SetDeliveries applies a gateway's delivery reports in one commit.
func (s *Store) SetDeliveries(ctx context.Context, updates []keyserver.DeliveryUpdate, now time.Time) (int, error) {
	var changed int
	err := s.write(ctx, func(tx *bolt.Tx) error {
		changed = 0 // fn may run again
		for _, u := range updates {
			var r keyserver.EnvelopeRecord
			found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), u.ID[:], &r)
			if err != nil {
				return fmt.Errorf("envelope %s: %w", u.ID, err)
			}
			if !found {
				continue
			}
			ev, ok := keyserver.ApplyDelivery(&r, u, now)
			if !ok {
				continue
			}
			// No indexed field and no payload changes.
			if err := s.writeEnvelopeUpdate(tx, indexedFields(&r), r.HasPayload, &r, []keyserver.AuditEvent{ev}); err != nil {
				return fmt.Errorf("delivery of %s: %w", u.ID, err)
			}
			changed++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}
