//go:build js && wasm

package d1store

import (
	"context"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// SetDeliveries applies a gateway's delivery reports in one batch.
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
			data, err := encode(&r)
			if err != nil {
				return err
			}
			// Only the record changes: no indexed column does.
			w.exec("UPDATE envelopes SET data = ? WHERE id = ?", data, hx(u.ID[:]))
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
