// Package sqltext is the SQL both SQL stores send, sqlstore (PostgreSQL and
// SQLite through database/sql) and d1store (D1, from a Worker): the same
// schema's statements, so that a query written once means the same on all
// three. Each store keeps its own I/O and its own way of passing an id (D1
// takes hex text where database/sql takes bytes).
package sqltext

import (
	"fmt"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TimeLayout is fixed-width UTC with nanoseconds: text order is time order, for
// every time from year 1 (the zero time) to 9999, and nothing rounds (D1
// returns large integers as doubles).
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// TimeKey is t as a time column holds it.
func TimeKey(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Upsert is INSERT … ON CONFLICT (conflict) DO UPDATE, which PostgreSQL, SQLite
// and D1 all speak: it replaces every column of cols but those of conflict
// (one column, or several separated by ", ").
func Upsert(table, conflict string, cols ...string) string {
	keys := strings.Split(conflict, ", ")
	var sets []string
	for _, c := range cols {
		if !contains(keys, c) {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ") ON CONFLICT (" + conflict + ") DO UPDATE SET " +
		strings.Join(sets, ", ")
}

func contains(s []string, v string) bool {
	for _, w := range s {
		if w == v {
			return true
		}
	}
	return false
}

// ListEnvelopes is the query of keyserver.Store.ListEnvelopes and its
// arguments: the data column of the envelopes q matches, newest first, then by
// id descending (boltstore's index order), and a page after q.After. id turns
// an envelope id into the store's argument for the id column.
func ListEnvelopes(q keyserver.EnvelopeQuery, id func([]byte) any) (string, []any) {
	var where []string
	var args []any
	if q.Sender != "" {
		where, args = append(where, "sender = ?"), append(args, q.Sender)
	}
	if q.Recipient != "" {
		where, args = append(where, "recipient = ?"), append(args, q.Recipient)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "created >= ?"), append(args, TimeKey(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "created < ?"), append(args, TimeKey(q.Until))
	}
	if q.After != nil {
		// Past the previous page's last envelope, in the order below.
		c := TimeKey(q.After.Created)
		where = append(where, "(created < ? OR (created = ? AND id < ?))")
		args = append(args, c, c, id(q.After.ID[:]))
	}
	query := "SELECT data FROM envelopes"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created DESC, id DESC"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return query, args
}
