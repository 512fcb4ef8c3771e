//go:build js && wasm

package d1batch

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The statements' text is what worker/d1batch.mjs parses with JSON.parse:
// here it must be JSON that says the same values.
func TestEncodeStatements(t *testing.T) {
	stmts := []Statement{
		{SQL: "INSERT INTO t (a, b, c, d, e, f) VALUES (?, ?, ?, ?, ?, ?)", Args: []any{
			"Ünïcode \"quoted\" <b>\n\x00", 1.5, int64(maxSafeInt), -7, true, nil}},
		{SQL: "UPDATE t SET b = ? WHERE a = ?", Args: []any{[]byte{0, 1, 255}, false}},
		Guard(),
	}
	text, guarded, err := encodeStatements(stmts)
	if err != nil {
		t.Fatal(err)
	}
	if !guarded {
		t.Error("a batch with a Guard was not seen as guarded")
	}
	var got []any
	if err := json.Unmarshal(text, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, text)
	}
	want := []any{
		[]any{stmts[0].SQL, "Ünïcode \"quoted\" <b>\n\x00", 1.5, float64(maxSafeInt), -7.0, 1.0, nil},
		[]any{stmts[1].SQL, map[string]any{"b": "AAH/"}, 0.0},
		[]any{Guard().SQL},
		[]any{"DELETE FROM " + GuardTable},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statements:\n got %#v\nwant %#v", got, want)
	}
	if _, guarded, _ := encodeStatements(stmts[:2]); guarded {
		t.Error("a batch without a Guard was seen as guarded")
	}
}

func TestEncodeStatementsRefuses(t *testing.T) {
	for _, c := range []struct {
		arg  any
		want string
	}{
		{int64(maxSafeInt + 1), "integer 9007199254740992 does not fit a JavaScript number exactly"},
		{-int64(maxSafeInt + 1), "integer -9007199254740992 does not fit a JavaScript number exactly"},
		{math.NaN(), "NaN is not a number D1 can store"},
		{math.Inf(1), "+Inf is not a number D1 can store"},
		{struct{}{}, "unsupported type struct {}"},
	} {
		_, _, err := encodeStatements([]Statement{{SQL: "SELECT ?", Args: []any{"ok"}}, {SQL: "SELECT ?, ?", Args: []any{1, c.arg}}})
		if err == nil || !strings.Contains(err.Error(), "statement 1 argument 1: "+c.want) {
			t.Errorf("%#v: err = %v, want %q", c.arg, err, c.want)
		}
	}
}

func TestDecodeResults(t *testing.T) {
	got, err := decodeResults(`[{"c":1,"r":[]},{"c":0,"r":[{"k":"a","v":2,"n":null},{"k":"b","v":1.5,"n":null}]},{"c":0,"r":[]}]`, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Changes: 1, Rows: []map[string]any{}},
		{Rows: []map[string]any{{"k": "a", "v": 2.0, "n": nil}, {"k": "b", "v": 1.5, "n": nil}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	for text, wantErr := range map[string]string{
		`[{"c":0,"r":[]}]`:                          "1 results for 2 statements",
		`[{"c":0,"r":[{"b":[0,1]}]},{"c":0}]`:       "statement 0 row 0: column b: unsupported value of type []interface {}",
		`[{"c":0,"r":[]},{"c":0,"r":[{"t":true}]}]`: "statement 1 row 0: column t: unsupported value of type bool",
		`not json`: "reading the results",
	} {
		if _, err := decodeResults(text, 2); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want %q", text, err, wantErr)
		}
	}
}
