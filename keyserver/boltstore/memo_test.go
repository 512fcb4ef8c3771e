package boltstore

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestMemoTypes lists the fields of the memoized records that share memory when
// copied, so that adding one fails here until its clone function copies it too,
// and checks that every field is encoded: one that is not would be remembered
// but not stored.
func TestMemoTypes(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[keyserver.EnvelopeRecord](), reflect.TypeFor[keyserver.Session](), reflect.TypeFor[keyserver.Account](), reflect.TypeFor[keyserver.Credential]()} {
		for f := range typ.Fields() {
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				t.Errorf("%v.%s is not encoded: the memo would keep what the file does not", typ, f.Name)
			}
		}
	}
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[keyserver.EnvelopeRecord](): {"WrappedKey", "KeyCheck", "Attachments", "Ciphertext", "ReplyContext", "Delivery"},
		reflect.TypeFor[keyserver.Session]():        {"TokenHash"},
		reflect.TypeFor[keyserver.Account]():        {"UserHandle", "Credentials", "Credentials.ID", "Credentials.PublicKey", "Credentials.Raw", "SpentSignIns", "SpentSignIns.Challenge"},
	} {
		if got := references(typ, ""); !slices.Equal(got, want) {
			t.Errorf("%v has reference fields %q, cloned are %q: update its clone function and this test", typ, got, want)
		}
	}
}

// references lists the fields of t, a struct, that hold references, time.Time
// (whose location is immutable) aside.
func references(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		name := prefix + f.Name
		ft := f.Type
		switch ft.Kind() {
		case reflect.Struct:
			if ft != reflect.TypeFor[time.Time]() {
				out = append(out, references(ft, name+".")...)
			}
		case reflect.Slice:
			out = append(out, name)
			if ft.Elem().Kind() == reflect.Struct {
				out = append(out, references(ft.Elem(), name+".")...)
			}
		case reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			out = append(out, name)
		}
	}
	return out
}

// TestMemoCopies checks that what the memo hands out, or was handed, can be
// changed in place without changing what it remembers.
func TestMemoCopies(t *testing.T) {
	c := newMemo(cloneAccount)
	key, data := []byte("k"), []byte(`{"id":"k"}`)
	a := keyserver.Account{ID: "k", UserHandle: []byte("h"), Credentials: []keyserver.Credential{{ID: []byte("c"), PublicKey: []byte("p"), Raw: []byte("r")}}}
	c.put(key, data, &a)
	a.UserHandle[0], a.Credentials[0].ID[0], a.Credentials[0].Raw[0] = 'x', 'x', 'x'
	var got keyserver.Account
	if !c.get(key, data, &got) {
		t.Fatal("memo forgot")
	}
	want := keyserver.Account{ID: "k", UserHandle: []byte("h"), Credentials: []keyserver.Credential{{ID: []byte("c"), PublicKey: []byte("p"), Raw: []byte("r")}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("memo gave %+v, want %+v", got, want)
	}
	got.UserHandle[0], got.Credentials[0].PublicKey[0] = 'y', 'y'
	got.Credentials[0] = keyserver.Credential{}
	if !c.get(key, data, &got) || !reflect.DeepEqual(got, want) {
		t.Fatalf("memo gave %+v after a change to what it gave, want %+v", got, want)
	}
	if c.get(key, []byte(`{"id":"k","first_name":"x"}`), &got) {
		t.Error("memo answered for other bytes")
	}
}

// TestMemoInvalidUTF8 checks that a record whose encoding replaced a string is
// read back as stored, not as written.
func TestMemoInvalidUTF8(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "waxseal.db"))
	defer s.Close()
	sess := keyserver.Session{TokenHash: []byte("t"), AccountID: "a", Method: "bad\xff"}
	if err := s.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for range 2 { // decoded, then remembered
		got, err := s.Session(ctx, sess.TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if want := "bad\ufffd"; string(got.Method) != want {
			t.Errorf("Method = %q, want %q", got.Method, want)
		}
	}
}
