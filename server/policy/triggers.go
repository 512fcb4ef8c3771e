// Package policy decides, per recipient, what the gateway does with a message:
// relay it as it is, relay it over TLS that must succeed, or seal it into an
// envelope. The gateway and `waxseal policy` (the administrators' dry run) call the
// same Decide, so the dry run can never disagree with what the gateway does.
package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Triggers are the subject rules that ask for a message to be sealed. Both rule
// sets of the systems in use today are supported (docs/ARCHITECTURE.md, "Trigger rules"):
//
//   - Phrases, Cisco style: the phrase anywhere in the subject, case-insensitive,
//     its words joined or separated by any amount of white space, but with nothing
//     else between them ("send YourMessage secure" does not trigger).
//   - Prefixes, portal style: the subject begins with the prefix (such as "PHI:"),
//     case-insensitive, the space after it optional.
type Triggers struct {
	phrases  []*regexp.Regexp
	prefixes []*regexp.Regexp
	names    []string // the configured rule, for reasons; phrases first
}

// Default rule sets.
var (
	DefaultPhrases  = []string{"send secure"}
	DefaultPrefixes = []string{"ePHI:", "PHI:", "Secure:"}
)

// space is what may stand between a phrase's words: after RFC 2047 decoding and
// unfolding that is blanks, tabs and the no-break space some clients insert.
const space = `[\s\x{00A0}]*`

// NewTriggers compiles rule sets. An empty list disables that rule set.
func NewTriggers(phrases, prefixes []string) (*Triggers, error) {
	t := &Triggers{}
	for _, p := range phrases {
		words := strings.Fields(p)
		if len(words) == 0 {
			return nil, fmt.Errorf("trigger phrase %q is empty", p)
		}
		for i, w := range words {
			words[i] = regexp.QuoteMeta(w)
		}
		t.phrases = append(t.phrases, regexp.MustCompile(`(?i)`+strings.Join(words, space)))
		t.names = append(t.names, p)
	}
	for _, p := range prefixes {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("trigger prefix %q is empty", p)
		}
		// Leading blanks are not the sender's intent to put text before the
		// prefix; a client's folding can leave them.
		t.prefixes = append(t.prefixes, regexp.MustCompile(`(?i)^\s*`+regexp.QuoteMeta(p)+`[ \t]?`))
		t.names = append(t.names, p)
	}
	return t, nil
}

// Match is the outcome of matching a subject.
type Match struct {
	Triggered bool
	// Rule describes the rule that matched, e.g. `phrase "send secure"`.
	Rule string
	// Subject is the subject without the trigger (the decoded subject when not
	// triggered).
	Subject string
}

// Match checks a decoded subject against the rules and removes every trigger
// found, so that "PHI: send secure results" shows as "results".
func (t *Triggers) Match(subject string) Match {
	m := Match{Subject: subject}
	// Removing one trigger can make another ("PHI:PHI: x", "send send
	// securesecure", "send[send secure]secure" once the brackets go), so remove
	// and tidy until nothing matches: a cleaned subject that still triggered would
	// keep the gateway's own last check from ever letting the envelope out.
	for {
		rule, rest, ok := t.removeOnce(m.Subject)
		if !ok {
			return m
		}
		if !m.Triggered {
			m.Rule = rule
		}
		m.Triggered = true
		m.Subject = tidy(rest)
	}
}

// removeOnce removes the first rule's triggers that match s.
func (t *Triggers) removeOnce(s string) (rule, rest string, ok bool) {
	for i, re := range t.prefixes {
		if loc := re.FindStringIndex(s); loc != nil {
			return fmt.Sprintf("prefix %q", t.names[len(t.phrases)+i]), s[loc[1]:], true
		}
	}
	for i, re := range t.phrases {
		if re.MatchString(s) {
			return fmt.Sprintf("phrase %q", t.names[i]), re.ReplaceAllString(s, " "), true
		}
	}
	return "", s, false
}

var (
	emptyBrackets = regexp.MustCompile(`[\[(<{]\s*[\])>}]`)
	blanks        = regexp.MustCompile(`[\s\x{00A0}]+`)
	// repeated separators left where the trigger stood: "Results -  - today"
	// (only separators standing alone, so "Note: -5" keeps its minus)
	doubleSep = regexp.MustCompile(`([-–—:|,;/])(?:\s+[-–—:|,;/])+(\s)`)
)

// separators may be left at either end once a trigger is cut out
// ("[send secure] - Results", "Results | send secure").
const separators = " \t-–—:|,;/*"

// tidy removes what a trigger leaves behind: empty brackets, doubled or dangling
// separators, runs of blanks.
func tidy(s string) string {
	for {
		t := emptyBrackets.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	s = blanks.ReplaceAllString(s, " ")
	s = doubleSep.ReplaceAllString(s, "$1$2")
	s = strings.Trim(s, separators)
	return s
}
