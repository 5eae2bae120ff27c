package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSoak_Short(t *testing.T) {
	var out bytes.Buffer
	args := []string{"soak", "-duration", "3s", "-fault-every", "600ms", "-messages", "500", "-folders", "5", "-rate", "40", "-seed", "4"}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("soak: %v\n%s", err, out.String())
	}
	for _, want := range []string{"fault 1: ", "faults injected: ", "convergence after a fault: ", "final check: the mirror equals the server"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("soak output lacks %q:\n%s", want, out.String())
		}
	}
}
