package assets

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

// messageCall finds the calls that say a message in the scripts: t(id),
// tn(n, one, other) and window.waxsealT(id), not their definitions.
var messageCall = regexp.MustCompile(`(?:^|[^\w.])(t|tn|window\.waxsealT)\(`)

// callArgs splits the arguments of the call whose "(" ends src[:i], up to its
// ")": commas at the top level only (not in strings, brackets or braces).
func callArgs(src string, i int) []string {
	var args []string
	depth, start := 0, i
	var quote byte
	for j := i; j < len(src); j++ {
		c := src[j]
		switch {
		case quote != 0:
			if c == '\\' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth == 0 {
				return append(args, strings.TrimSpace(src[start:j]))
			}
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(src[start:j]))
			start = j + 1
		}
	}
	return args
}

// stringsOut removes a script fragment's string literals.
var stringsOut = regexp.MustCompile(`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'`)

// TestScriptKeysAreLiterals: a page ships the messages whose ids its scripts
// write as string literals (pageScriptKeys), so a script must never make an
// id at run time ("refused_" + code, a template literal): the id would not be
// found, and the page would show it instead of its message. Each message
// call's id is a literal, a choice between literals, or a name that holds
// one (a map of literals, a parameter); no literal looks like a piece of an
// id ("c_" or "_one").
func TestScriptKeysAreLiterals(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	pieceOfID := regexp.MustCompile(`^(?:[a-z][a-z0-9_]*_|_(?:one|other|nopw))$`)
	calls := 0
	for _, a := range s.All() {
		if path.Ext(a.Name) != ".js" || a.Name == "wasm_exec.js" {
			continue
		}
		src := string(a.Raw())
		for _, m := range messageCall.FindAllStringSubmatchIndex(src, -1) {
			if strings.HasSuffix(src[:m[0]+1], "function t(") || strings.HasSuffix(src[:m[0]+1], "function tn(") {
				continue
			}
			args := callArgs(src, m[1])
			ids := args[:min(1, len(args))]
			if src[m[2]:m[3]] == "tn" {
				ids = args[min(1, len(args)):min(3, len(args))]
			}
			for _, id := range ids {
				calls++
				code := stringsOut.ReplaceAllString(id, `""`)
				if strings.ContainsAny(code, "+`") {
					t.Errorf("%s: a message id made at run time: %s(%s)", a.Name, src[m[2]:m[3]], id)
				}
			}
		}
		for _, lit := range stringsOut.FindAllString(src, -1) {
			if pieceOfID.MatchString(lit[1 : len(lit)-1]) {
				t.Errorf("%s: %s looks like a piece of a message id", a.Name, lit)
			}
		}
	}
	if calls < 200 {
		t.Errorf("%d message calls found: the check sees nothing", calls)
	}
}

// TestPagesShipTheirScriptsStrings: each page with scripts ships the messages
// its scripts name and no other; a page without scripts ships none.
func TestPagesShipTheirScriptsStrings(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	all := s.locales.Get("en").Strings("js.")
	shipped := func(page string) (n int) {
		for id := range s.scriptKeys[page] {
			if all[id] != "" {
				n++
			}
		}
		return n
	}
	open, console := shipped("open.html"), shipped("console.html")
	for _, c := range []struct {
		page, id string
		want     bool
	}{
		{"open.html", "code_sent", true},        // signin.js
		{"open.html", "reply_h", true},          // reply.js
		{"open.html noreply", "reply_h", false}, // reply.js, loaded only with replies on
		{"open.html noreply", "code_sent", true},
		{"open.html", "no_decryptor", true},     // app.js
		{"open.html", "c_revoke", false},        // console.js only
		{"console.html", "c_revoke", true},      // console.js
		{"console.html", "code_sent", true},     // signin.js
		{"console.html", "reply_h", false},      // reply.js only
		{"console.html", "damage_other", false}, // app.js only
	} {
		if all[c.id] == "" {
			t.Fatalf("no message js.%s", c.id)
		}
		if got := s.scriptKeys[c.page][c.id]; got != c.want {
			t.Errorf("%s ships %s: %v, want %v", c.page, c.id, got, c.want)
		}
	}
	t.Logf("of %d script messages, open.html ships %d (%d with replies off), console.html %d", len(all), open, shipped("open.html noreply"), console)
	if open >= len(all) || console >= len(all) {
		t.Errorf("open.html ships %d messages, console.html %d, of %d: not fewer", open, console, len(all))
	}
	if _, ok := s.scriptKeys["home.html"]; ok {
		t.Error("home.html has no scripts but ships strings")
	}
}
