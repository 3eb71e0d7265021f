package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/provider"
)

// The README is checked here so that it cannot drift from the code: its
// preset table, the identifiers it names, its commands, its sample error
// and its Go code.

const moduleRoot = "../.."

// testCommand is the README's test command: the core module and the nested
// modules of the workspace.
const testCommand = "go test ./... ./outbox/... ./gateway/... ./metrics/..."

func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot, "README.md"))
	require.NoError(t, err)
	return string(data)
}

// TestReadmePresetTable checks that the preset table has one row per preset
// of provider.All(), with its server, TLS mode and mechanism.
func TestReadmePresetTable(t *testing.T) {
	// Only the "## Presets" section: tables elsewhere may start rows with a
	// code span too.
	_, section, ok := strings.Cut(readme(t), "\n## Presets\n")
	require.True(t, ok, "the README has no \"## Presets\" section")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			rows[name] = line
		}
	}
	presets := provider.All()
	assert.Len(t, rows, len(presets), "the README table has a row that is not a preset, or misses one")
	for _, p := range presets {
		row, ok := rows[p.Name]
		if !assert.True(t, ok, "preset %q has no row in the README", p.Name) {
			continue
		}
		mech := string(p.Mechanism)
		if mech == "" {
			mech = "none"
		}
		cells := strings.Split(row, " | ")
		require.GreaterOrEqual(t, len(cells), 5, row)
		assert.Equal(t, "`"+p.Addr()+"`", cells[2], p.Name)
		assert.Equal(t, p.TLS.String(), cells[3], p.Name)
		assert.Equal(t, mech, cells[4], p.Name)
	}
}

// TestReadmeIdentifiers checks that every mailer.X, provider.X and
// mailertest.X the README names exists.
func TestReadmeIdentifiers(t *testing.T) {
	exported := map[string]map[string]bool{
		"mailer":     packageNames(t, moduleRoot),
		"provider":   packageNames(t, filepath.Join(moduleRoot, "provider")),
		"mailertest": packageNames(t, filepath.Join(moduleRoot, "mailertest")),
	}
	re := regexp.MustCompile(`\b(mailer|provider|mailertest)\.([A-Z]\w*)`)
	seen := 0
	for _, m := range re.FindAllStringSubmatch(readme(t), -1) {
		seen++
		assert.True(t, exported[m[1]][m[2]], "README names %s.%s, which does not exist", m[1], m[2])
	}
	assert.Greater(t, seen, 20)
}

// packageNames returns the exported top-level names of the package in dir.
func packageNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = s.Name.IsExported()
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = n.IsExported()
						}
					}
				}
			}
		}
	}
	require.NotEmpty(t, names, dir)
	return names
}

// TestReadmeCommands checks the commands the README tells a newcomer to run.
func TestReadmeCommands(t *testing.T) {
	text := readme(t)
	assert.Contains(t, text, "\ngo run ./examples/send -to you@example.com -subject hi -text hello\n")
	assert.Contains(t, text, "\n"+testCommand+"\n")

	// CI runs the same patterns, with vet and the race detector.
	ci, err := os.ReadFile(filepath.Join(moduleRoot, ".ci", "run"))
	require.NoError(t, err)
	assert.Contains(t, string(ci), "PKGS=("+strings.TrimPrefix(testCommand, "go test ")+")")
	assert.Contains(t, string(ci), `go vet "${PKGS[@]}"`)
	// Flags such as -p 1 or -timeout may sit between -race and the packages.
	assert.Regexp(t, regexp.MustCompile(`go test -race( -\S+( \d\S*)?)* "\$\{PKGS\[@\]\}"`), string(ci))

	// The zero-config command works (TestBinary runs it as a binary).
	got := runSend(t, nil, "-to", "you@example.com", "-subject", "hi", "-text", "hello")
	assert.Equal(t, 0, got.code, got.stderr)
}

// TestReadmeQQError reproduces the error the README shows for QQ Mail's
// reply to a wrong password.
func TestReadmeQQError(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("alice@qq.com", "authorization-code"),
		mailertest.WithFaults(mailertest.Fault{
			Step: mailertest.StepAUTH, Reply: "535 Login Fail. Please enter your authorization code to login",
		}))
	qq, ok := provider.Lookup("qq")
	require.True(t, ok)
	c, err := mailer.New(srv.Options(), mailer.WithReplyRules(qq.Rules...))
	require.NoError(t, err)
	defer c.Close()
	msg, err := mailer.NewMessage().From("alice@qq.com").To("bob@example.com").Subject("x").Text("x").Build()
	require.NoError(t, err)

	_, err = c.Send(context.Background(), msg)
	require.Error(t, err)
	assert.Contains(t, readme(t), "\n"+err.Error()+"\n")
}

// TestReadmeGoBlocks compiles every go block of the README that is a
// complete file (starts with "package"), and runs those that are tests.
func TestReadmeGoBlocks(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("compiles every go block with the go command: set MAILER_TEST_LONG=1 to run it, as .ci/run does")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	root, err := filepath.Abs(moduleRoot)
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)\n```go\n(.*?)\n```\n").FindAllStringSubmatch(readme(t), -1)
	complete := 0
	for i, b := range blocks {
		src := b[1] + "\n"
		if !strings.HasPrefix(src, "package ") {
			continue // an excerpt, as the README says
		}
		complete++
		file, args := "main.go", []string{"vet"}
		if strings.Contains(src, "\nfunc Test") {
			file, args = "readme_test.go", []string{"test", "-count=1"}
		}
		path := filepath.Join(t.TempDir(), file)
		require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
		cmd := exec.Command(goTool, append(args, path)...)
		cmd.Dir = root // resolve imports in this module
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "go block %d (%s):\n%s", i+1, firstLine(src, "func "), out)
	}
	assert.GreaterOrEqual(t, complete, 6, "complete go blocks")
}

// firstLine returns the first line of src that starts with prefix.
func firstLine(src, prefix string) string {
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestReadmeFirstCommands checks the order a newcomer meets the commands
// in: go get, the verification example (which works with nothing
// configured, see examples/verification's tests), then the tests.
func TestReadmeFirstCommands(t *testing.T) {
	blocks := regexp.MustCompile("(?s)\n```sh\n(.*?)\n```\n").FindAllStringSubmatch(readme(t), -1)
	require.GreaterOrEqual(t, len(blocks), 3)
	assert.Equal(t, "go get github.com/postkit/mailer", blocks[0][1])
	assert.Equal(t, "go run ./examples/verification", blocks[1][1])
	assert.Equal(t, testCommand, blocks[2][1])
	assert.Contains(t, readme(t), "MAILER_PROVIDER=qq ")
	assert.Contains(t, readme(t), "MAILER_PROVIDER=163 ")
	assert.Contains(t, readme(t), "MAILER_PROVIDER=gmail ")
}

// TestReadmeNoSecretOnCommandLine checks the shell lines of the README and
// of send -h: after advising to keep the password out of shell history and
// ps, none puts one in a URL or a variable on the command line, and every
// `read` of a secret prompts for it without echo.
func TestReadmeNoSecretOnCommandLine(t *testing.T) {
	var lines []string
	for _, b := range regexp.MustCompile("(?s)\n```sh\n(.*?)\n```\n").FindAllStringSubmatch(readme(t), -1) {
		lines = append(lines, strings.Split(b[1], "\n")...)
	}
	help := runSend(t, nil, "-h")
	lines = append(lines, strings.Split(help.stdout, "\n")...)
	userinfo := regexp.MustCompile(`\w+://[^/\s@\[]*:[^/\s@\]]+@`)
	reads := 0
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		assert.NotRegexp(t, userinfo, l, "a password in a URL on the command line")
		assert.NotRegexp(t, `(PASSWORD|SECRET|TOKEN|KEY)=\S`, l, "a secret in a variable on the command line")
		if strings.Contains(l, "read -") {
			reads++
			assert.Regexp(t, `read -rsp '[^']+: ' MAILER_PASSWORD && echo && export MAILER_PASSWORD`, l)
		}
	}
	assert.GreaterOrEqual(t, reads, 3)
}
