package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// SetDeliveries applies a gateway's delivery reports in one transaction.
func (s *Store) SetDeliveries(ctx context.Context, updates []keyserver.DeliveryUpdate, now time.Time) (int, error) {
	var changed int
	err := s.write(ctx, func(w *wtx) error {
		changed = 0 // fn may run again
		var events []keyserver.AuditEvent
		for _, u := range updates {
			r, found, err := w.envelope(u.ID)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			ev, ok := keyserver.ApplyDelivery(&r, u, now)
			if !ok {
				continue
			}
			if err := w.putEnvelope(&r); err != nil {
				return fmt.Errorf("delivery of %s: %w", u.ID, err)
			}
			events = append(events, ev)
			changed++
		}
		return w.appendAudit(events)
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}
