//go:build js && wasm

package d1store

import (
	"context"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/waxseal/waxseal/internal/d1batch"
)

// The orphan sweep lists the bucket a page at a time. A run reads at most
// sweepPages pages of sweepPageSize objects, so that one Cron Trigger stays
// within a Worker's limits (subrequests, CPU) however large the bucket; the
// listing's cursor is kept in D1 (sweep_cursor), so the next run, in whatever
// isolate, goes on where this one stopped, and after the last page it starts
// from the first again. Variables, not constants, for the tests.
var (
	sweepPageSize = 1000 // R2's largest page
	sweepPages    = 10
)

// sweepOrphans deletes the R2 objects uploaded before t that no row names.
func (s *Store) sweepOrphans(ctx context.Context, t time.Time) error {
	rows, err := s.query(ctx, "SELECT cursor FROM sweep_cursor WHERE id = 1")
	if err != nil {
		return fmt.Errorf("read the sweep cursor: %w", err)
	}
	cursor := ""
	if len(rows) == 1 {
		cursor = rows[0].str("cursor")
	}
	for range sweepPages {
		keys, next, err := s.listPage(ctx, cursor, t)
		if err != nil && cursor != "" {
			// A cursor R2 no longer takes: start from the first page.
			keys, next, err = s.listPage(ctx, "", t)
		}
		if err != nil {
			return err
		}
		if err := s.deleteOrphans(ctx, keys); err != nil {
			return err
		}
		cursor = next
		if cursor == "" {
			break
		}
	}
	if _, err := s.query(ctx, `INSERT INTO sweep_cursor (id, cursor) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor`, cursor); err != nil {
		return fmt.Errorf("keep the sweep cursor: %w", err)
	}
	return nil
}

// listPage lists one page from cursor; it returns the keys of ciphertexts
// uploaded before t and the cursor of the next page ("" after the last).
func (s *Store) listPage(ctx context.Context, cursor string, t time.Time) ([]string, string, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("limit", sweepPageSize)
	if cursor != "" {
		opts.Set("cursor", cursor)
	}
	v, err := d1batch.Call(ctx, s.r2, "list", opts)
	if err != nil {
		return nil, "", fmt.Errorf("r2 list: %w", err)
	}
	objs := v.Get("objects")
	var keys []string
	for i := 0; i < objs.Length(); i++ {
		o := objs.Index(i)
		key := o.Get("key").String()
		uploaded := time.UnixMilli(int64(o.Get("uploaded").Call("getTime").Float()))
		if (len(key) == 64 || strings.HasPrefix(key, payloadPrefix)) && uploaded.Before(t) {
			keys = append(keys, key)
		}
	}
	next := ""
	if v.Get("truncated").Truthy() {
		next = v.Get("cursor").String()
	}
	return keys, next, nil
}

// deleteOrphans deletes those of keys that no row names: a ciphertext's row
// by its sum, a large payload's by its reference. It looks rows up 45 keys
// (90 parameters) at a time: D1 binds at most 100.
func (s *Store) deleteOrphans(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 45)
		args := make([]any, 0, 2*n)
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		for _, k := range keys[:n] {
			args = append(args, r2Ref+k)
		}
		rows, err := s.query(ctx, "SELECT sum AS k FROM ciphertexts WHERE sum IN ("+placeholders(n)+
			") UNION ALL SELECT substr(data, 4) AS k FROM payloads WHERE data IN ("+placeholders(n)+")", args...)
		if err != nil {
			return err
		}
		named := map[string]bool{}
		for _, r := range rows {
			named[r.str("k")] = true
		}
		for _, k := range keys[:n] {
			if !named[k] {
				s.r2Delete(ctx, k)
			}
		}
		keys = keys[n:]
	}
	return nil
}
