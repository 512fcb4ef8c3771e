package policy

import "testing"

// TestSubjects is the table of issue 11: what the gateway does with a subject
// and what the external recipient sees. Reply and forward markers and tags do
// not hide a prefix, normalisation undoes what cannot be seen, every reading
// of an undecodable subject counts, and near misses stay plain.
func TestSubjects(t *testing.T) {
	p := defaultPolicy(t)
	cases := ReadSubjectTable(t, "testdata/subjects.txt")
	if len(cases) < 80 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		r := p.Decide("alice@hospital.example", []string{"bob@patient.example"}, c.Raw)
		d := r.Decisions[0]
		if d.Action != c.Action || d.Subject != c.Shown {
			t.Errorf("%q: %s %q (rule %s), want %s %q", c.Raw, d.Action, d.Subject, r.Rule, c.Action, c.Shown)
		}
		if c.Action == Envelope {
			// What the recipient sees must not trigger again, or the gateway's own
			// last check would hold the envelope back.
			if again := p.Decide("", []string{"bob@patient.example"}, d.Subject); again.Triggered {
				t.Errorf("%q: shown subject %q triggers again (%s)", c.Raw, d.Subject, again.Rule)
			}
		}
	}
}

func TestHasControl(t *testing.T) {
	for raw, want := range map[string]bool{
		"PHI: results":                  false,
		"folded\r\n results":            false,
		"tab\there":                     false,
		"PHI\x00: results":              true,
		"bell\x07":                      true,
		"=?utf-8?q?PHI=00=3A_results?=": true,
		"=?utf-8?q?del=7F?=":            true,
		"=?utf-8?q?caf=C3=A9?=":         false,
	} {
		if got := HasControl(raw); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", raw, got, want)
		}
	}
}
