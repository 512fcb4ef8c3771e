package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `goos: linux
BenchmarkBaselineSecretboxSeal-2   	 70	  20000000 ns/op	 600 MB/s
BenchmarkBaselineSecretboxSeal-2   	 70	  22000000 ns/op	 600 MB/s
BenchmarkBaselineSecretboxSeal-2   	 70	  90000000 ns/op	 600 MB/s
BenchmarkBaselineSecretboxOpen-2   	 70	  20000000 ns/op
BenchmarkBaselineBase64SecretboxOpen-2 	 70	  40000000 ns/op
BenchmarkSeal/recipients=1-2       	 70	  25000000 ns/op
BenchmarkSeal/recipients=50-2      	 70	  30000000 ns/op
BenchmarkOpen-2                    	 70	  10000000 ns/op
BenchmarkOpenHTML-2                	 70	  40000000 ns/op
BenchmarkWriteHTML-2               	 70	  11000000 ns/op
BenchmarkWrite-2                   	 70	  11000000 ns/op	  1.355 wire/msg	 4 B/op
`
	var out strings.Builder
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// median of 20, 22, 90 is 22: one noisy run does not move it
		"| Seal 10 MB, 1 recipient (throughput) | 25.0 ms | BaselineSecretboxSeal | 22.0 ms | 0.88× | >= 0.8 | yes |",
		"| Seal 10 MB, 50 recipients (time vs 1 recipient) | 30.0 ms | Seal/recipients=1 | 25.0 ms | 1.20× | <= 2.0 | yes |",
		"| Open 10 MB: unwrap + decrypt (throughput) | 10.0 ms | BaselineSecretboxOpen | 20.0 ms | 2.00× | >= 0.8 | yes |",
		"| 1.355× | <= 1.37 | yes |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if err := report(strings.NewReader("BenchmarkOpen-2 1 5 ns/op\n"), &out); err == nil {
		t.Error("a report with missing baselines succeeded")
	}
}
