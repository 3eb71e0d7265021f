package mailer

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCoreDependencies: a program that imports package mailer to send
// plain mail links no template machinery: the CSS inliner and its chain
// (goquery, cascadia, gorilla/css, html2text's table writer and colours)
// are linked only by programs that import package templates.
func TestCoreDependencies(t *testing.T) {
	t.Parallel() // waits on a child process (go list)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".").Output()
	require.NoError(t, err)
	modules := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		modules[m] = true
	}
	for _, heavy := range []string{
		"github.com/vanng822/go-premailer", "github.com/PuerkitoBio/goquery", "github.com/andybalholm/cascadia",
		"github.com/gorilla/css", "github.com/vanng822/css", "github.com/inbucket/html2text",
		"github.com/olekukonko/tablewriter", "github.com/fatih/color", "github.com/mattn/go-runewidth", "github.com/ssor/bom",
	} {
		assert.False(t, modules[heavy], "package mailer links %s", heavy)
	}
}
