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
	"errors"
	"fmt"
	"math"
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
// or none.
func Batch(ctx context.Context, db js.Value, stmts []Statement) ([]Result, error) {
	if db.IsUndefined() || db.IsNull() {
		return nil, errors.New("d1batch: no D1 binding")
	}
	t := start()
	guarded := false
	arr := js.Global().Get("Array").New()
	for i, st := range stmts {
		args := make([]any, len(st.Args))
		for j, a := range st.Args {
			v, err := toJS(a)
			if err != nil {
				return nil, fmt.Errorf("d1batch: statement %d argument %d: %w", i, j, err)
			}
			args[j] = v
		}
		if st.SQL == Guard().SQL {
			guarded = true
		}
		arr.Call("push", db.Call("prepare", st.SQL).Call("bind", args...))
	}
	if guarded {
		arr.Call("push", db.Call("prepare", "DELETE FROM "+GuardTable))
	}
	t = since(&stats.build, t)
	res, err := jsio.Call(ctx, db, "batch", arr)
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
	out := make([]Result, len(stmts))
	for i := range stmts {
		r := res.Index(i)
		if meta := r.Get("meta"); meta.Truthy() && meta.Get("changes").Type() == js.TypeNumber {
			out[i].Changes = int64(meta.Get("changes").Float())
		}
		rows := r.Get("results")
		if !rows.Truthy() {
			continue
		}
		for k := 0; k < rows.Length(); k++ {
			row, err := fromRow(rows.Index(k))
			if err != nil {
				return nil, fmt.Errorf("d1batch: statement %d row %d: %w", i, k, err)
			}
			out[i].Rows = append(out[i].Rows, row)
		}
		if !t.IsZero() {
			stats.rows.Add(int64(len(out[i].Rows)))
		}
	}
	since(&stats.read, t)
	return out, nil
}

const maxSafeInt = 1<<53 - 1

func toJS(a any) (any, error) {
	switch v := a.(type) {
	case nil:
		return js.Null(), nil
	case string, float64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case int:
		return toJS(int64(v))
	case int64:
		if v > maxSafeInt || v < -maxSafeInt {
			return nil, fmt.Errorf("integer %d does not fit a JavaScript number exactly", v)
		}
		return float64(v), nil
	case []byte:
		b := js.Global().Get("Uint8Array").New(len(v))
		js.CopyBytesToJS(b, v)
		return b, nil
	default:
		return nil, fmt.Errorf("unsupported type %T", a)
	}
}

func fromRow(row js.Value) (map[string]any, error) {
	keys := js.Global().Get("Object").Call("keys", row)
	m := make(map[string]any, keys.Length())
	for i := 0; i < keys.Length(); i++ {
		k := keys.Index(i).String()
		v := row.Get(k)
		switch v.Type() {
		case js.TypeString:
			m[k] = v.String()
		case js.TypeNumber:
			f := v.Float()
			if math.IsNaN(f) {
				return nil, fmt.Errorf("column %s: NaN", k)
			}
			m[k] = f
		case js.TypeNull, js.TypeUndefined:
			m[k] = nil
		default:
			return nil, fmt.Errorf("column %s: unsupported value of type %s", k, v.Type())
		}
	}
	return m, nil
}
