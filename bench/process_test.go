package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestProcessTable runs bench/cmd/table briefly (200 messages, one round),
// so that the whole-process benchmark keeps working: every sender builds,
// talks to the sink in its own process and delivers everything. The
// figures themselves come from a full run:
//
//	go run ./bench/cmd/table -n 10000 -runs 5
func TestProcessTable(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("builds and runs six programs; set MAILER_TEST_LONG=1 to run it")
	}
	cmd := exec.Command("go", "run", "./bench/cmd/table", "-n", "200", "-runs", "1")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, row := range []string{"raw pipelining, 8 connections (ceiling)", "examples/bulk -pool 8 (ours)",
		"examples/bulk -pool 4 (ours)", "examples/bulk -pool 1 (ours)",
		"go-mail, 4 connections reused", "go-mail, 1 connection reused"} {
		if !strings.Contains(string(out), "\n| "+row+" | ") {
			t.Errorf("no row %q in\n%s", row, out)
		}
	}
}
