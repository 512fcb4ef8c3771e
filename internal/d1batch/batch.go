//go:build js && wasm

// Package d1batch runs several statements on Cloudflare D1 as one atomic
// batch (D1Database.batch), from Go through syscall/js.
//
// D1 has no interactive transactions: the database/sql driver of
// syumai/workers refuses BeginTx and has no batch. A batch is D1's unit of
// atomicity: if any statement fails, none of them has effect. A write that
// depends on what it read checks it inside the batch instead: Guard after a
// conditional UPDATE fails the whole batch unless that UPDATE changed a row.
package d1batch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/waxseal/waxseal/internal/jsio"
)

// Statement is one SQL statement with its ? arguments: string, []byte, nil,
// bool, int, int64 (within ±2^53: D1 numbers are JavaScript numbers) or float64.
// Times go in as text.
type Statement struct {
	SQL  string
	Args []any
}

// Result is what one statement of a batch did.
type Result struct {
	Changes int64
	// Rows are the rows a query returned, column name to value: string,
	// float64 or nil.
	Rows []map[string]any
}

// GuardTable is created by Setup; Guard statements insert into it.
const GuardTable = "d1batch_guard"

// Setup creates the guard table (once per database; idempotent).
func Setup() Statement {
	return Statement{SQL: "CREATE TABLE IF NOT EXISTS " + GuardTable + " (ok INTEGER NOT NULL CHECK (ok = 1))"}
}

// Guard fails the batch unless the statement just before it changed exactly
// one row. Batch removes the guard rows at its end.
func Guard() Statement {
	return Statement{SQL: "INSERT INTO " + GuardTable + " (ok) VALUES (changes())"}
}

// ErrGuard is returned (wrapped) when a Guard failed: the batch had no effect.
var ErrGuard = errors.New("d1batch: a guarded write found the row changed")

// Batch runs stmts on db (a D1Database binding) as one batch: all take effect
// or none. It crosses into JavaScript once, through worker/d1batch.mjs (which
// the worker entries import): the statements go over as one JSON text and the
// results come back as one.
func Batch(ctx context.Context, db js.Value, stmts []Statement) ([]Result, error) {
	if db.IsUndefined() || db.IsNull() {
		return nil, errors.New("d1batch: no D1 binding")
	}
	helper := js.Global().Get("waxsealD1")
	if helper.Type() != js.TypeObject {
		return nil, errors.New("d1batch: globalThis.waxsealD1 is not set: the worker entry must import worker/d1batch.mjs")
	}
	t := start()
	text, guarded, err := encodeStatements(stmts)
	if err != nil {
		return nil, err
	}
	t = since(&stats.build, t)
	res, err := jsio.Call(ctx, helper, "batch", db, string(text))
	t = since(&stats.wait, t)
	if !t.IsZero() {
		stats.batches.Add(1)
		stats.statements.Add(int64(len(stmts)))
	}
	if err != nil {
		if guarded && strings.Contains(err.Error(), "CHECK constraint failed") {
			return nil, fmt.Errorf("%w (%v)", ErrGuard, err)
		}
		return nil, fmt.Errorf("d1batch: %w", err)
	}
	out, err := decodeResults(res.String(), len(stmts))
	if err != nil {
		return nil, err
	}
	if !t.IsZero() {
		for _, r := range out {
			stats.rows.Add(int64(len(r.Rows)))
		}
	}
	since(&stats.read, t)
	return out, nil
}

// encodeStatements writes stmts as worker/d1batch.mjs reads them,
// [[sql, arg, ...], ...], with the guard rows' cleanup last if a Guard is
// among them.
func encodeStatements(stmts []Statement) (text []byte, guarded bool, err error) {
	b := append(make([]byte, 0, 512), '[')
	for i, st := range stmts {
		if st.SQL == Guard().SQL {
			guarded = true
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendString(b, st.SQL)
		for j, a := range st.Args {
			b = append(b, ',')
			if b, err = appendArg(b, a); err != nil {
				return nil, false, fmt.Errorf("d1batch: statement %d argument %d: %w", i, j, err)
			}
		}
		b = append(b, ']')
	}
	if guarded {
		b = append(b, ',', '[')
		b = appendString(b, "DELETE FROM "+GuardTable)
		b = append(b, ']')
	}
	return append(b, ']'), guarded, nil
}

const maxSafeInt = 1<<53 - 1

func appendArg(b []byte, a any) ([]byte, error) {
	switch v := a.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a number D1 can store", v)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case int:
		return appendArg(b, int64(v))
	case int64:
		if v > maxSafeInt || v < -maxSafeInt {
			return nil, fmt.Errorf("integer %d does not fit a JavaScript number exactly", v)
		}
		return strconv.AppendInt(b, v, 10), nil
	case []byte:
		b = append(b, `{"b":"`...)
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, `"}`...), nil
	default:
		return nil, fmt.Errorf("unsupported type %T", a)
	}
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// it did when strings crossed into JavaScript one by one.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// decodeResults reads worker/d1batch.mjs's answer for n statements.
func decodeResults(text string, n int) ([]Result, error) {
	var got []struct {
		Changes float64          `json:"c"`
		Rows    []map[string]any `json:"r"`
	}
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		return nil, fmt.Errorf("d1batch: reading the results: %w", err)
	}
	if len(got) < n {
		return nil, fmt.Errorf("d1batch: %d results for %d statements", len(got), n)
	}
	out := make([]Result, n)
	for i := range out {
		out[i].Changes = int64(got[i].Changes)
		for k, row := range got[i].Rows {
			for col, v := range row {
				switch v.(type) {
				case string, float64, nil:
				default:
					return nil, fmt.Errorf("d1batch: statement %d row %d: column %s: unsupported value of type %T", i, k, col, v)
				}
			}
		}
		out[i].Rows = got[i].Rows
	}
	return out, nil
}
