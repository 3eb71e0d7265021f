package templates

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInlineAtParseTime checks that a template inlined once at parse time
// renders exactly what inlining each rendered document gives, escaping
// included, and that the templates where that cannot be promised keep
// inlining at render time.
func TestInlineAtParseTime(t *testing.T) {
	const style = `<style>p { color: #111; } .x { font-weight: bold; } td { padding: 2px; } a { color: #00f; }
@media (max-width: 600px) { p { color: #222; } }</style>`
	layout := `{{define "layout"}}<!DOCTYPE html><html lang="{{locale}}"><head><title>{{template "title" .}}</title>` + style +
		`</head><body>{{block "body" .}}{{end}}</body></html>{{end}}`
	data := map[string]any{
		"Name": "<script>alert(\"x\")</script> & 'q' +1\r\nline\rtwo\x00", "URL": "javascript:alert(1)", "Safe": "https://example.com/a?b=c&d=e+f",
		"Rows": []string{"one", "two <b>", "three"}, "Empty": []string{}, "On": true, "Off": false, "Cls": "x",
	}
	tests := []struct {
		name, body string
		atParse    bool
	}{
		{"text and attributes", `{{define "body"}}<p>Hi {{.Name}}, <a href="{{.URL}}" title="{{.Name}}">bad</a> <a href="{{.Safe}}">good</a></p>{{end}}`, true},
		{"range in a table", `{{define "body"}}<table><tbody>{{range $i, $r := .Rows}}<tr><td class="x">{{$i}}: {{$r}}</td></tr>{{else}}<tr><td>none</td></tr>{{end}}</tbody></table>{{end}}`, true},
		{"range in a table without tbody", `{{define "body"}}<table>{{range .Rows}}<tr><td class="x">{{.}}</td></tr>{{end}}</table>{{end}}`, false},
		{"a tag left open in a branch", `{{define "body"}}<div><p>a{{if .On}}<div>b</div>{{end}}c</p></div>{{end}}`, false},
		{"if and with", `{{define "body"}}{{if .On}}<p class="x">on</p>{{else if .Off}}<p>off</p>{{end}}{{with .Empty}}<p>{{.}}</p>{{else}}<p>empty</p>{{end}}{{end}}`, true},
		{"partials with arguments", `{{define "row"}}<td>{{.}}</td>{{end}}{{define "em"}}<em>{{.}}</em>{{end}}{{define "body"}}<table><tr>{{range .Rows}}{{template "row" .}}{{end}}</tr></table><p>{{template "em" .Name}} {{template "em" "x"}}</p>{{end}}`, true},
		{"variables and pipelines", `{{define "body"}}{{$n := len .Rows}}<p>{{$n}} rows, {{printf "%q" .Name | html}}</p>{{end}}`, true},
		{"class from data", `{{define "body"}}<p class="{{.Cls}}">x</p>{{end}}`, false},
		{"action in a tag", `{{define "body"}}<p {{if .On}}hidden{{end}}>x</p>{{end}}`, false},
		{"style from data", `{{define "body"}}<p style="color: {{.Cls}}">x</p>{{end}}`, false},
		{"order-dependent CSS", `{{define "body"}}<style>tr:nth-child(2) td { color: red; }</style><table>{{range .Rows}}<tr><td>{{.}}</td></tr>{{end}}</table>{{end}}`, false},
		{"sibling CSS", `{{define "body"}}<style>p + p { color: red; }</style>{{range .Rows}}<p>{{.}}</p>{{end}}{{end}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"_layout.html.tmpl":    {Data: []byte(layout)},
				"m.subject.tmpl":       {Data: []byte("s")},
				"m.html.tmpl":          {Data: []byte(`{{define "title"}}T {{.Name}}{{end}}` + tt.body + `{{template "layout" .}}`)},
				"_unused.html.tmpl":    {Data: []byte(`{{define "unused"}}<p>{{.Nope}}</p>{{end}}`)},
				"m.zh-CN.html.tmpl":    {Data: []byte(`{{define "title"}}标题{{end}}` + tt.body + `{{template "layout" .}}`)},
				"m.zh-CN.subject.tmpl": {Data: []byte("s")},
			}
			set, err := Parse(fsys, nil)
			require.NoError(t, err)
			for _, loc := range []string{"en", "zh-CN"} {
				v := set.mails["m"].variants[loc]
				assert.Equal(t, tt.atParse, v.source != nil, "inlined at parse time")
				got, err := set.Render("m", loc, data)
				require.NoError(t, err)
				src := v.html
				if v.source != nil {
					src = v.source
				}
				html, err := executeHTML(src, data)
				require.NoError(t, err)
				want, err := inlineCSS(html)
				require.NoError(t, err)
				assert.Equal(t, want, got.HTML)
				assert.NotContains(t, got.HTML, "<script>")
				assert.NotContains(t, got.HTML, markOpen)
			}
		})
	}
}

// TestInlineAtParseTimeErrors: a render error names the user's file and
// line, not the generated templates.
func TestInlineAtParseTimeErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"m.subject.tmpl": {Data: []byte("s")},
		"m.html.tmpl":    {Data: []byte("<html><head><style>p { color: red; }</style></head>\n<body><p>{{.Missing}}</p></body></html>")},
	}
	set, err := Parse(fsys, nil)
	require.NoError(t, err)
	require.NotNil(t, set.mails["m"].variants["en"].source, "inlined at parse time")
	_, err = set.Render("m", "en", map[string]string{})
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "m.html.tmpl", te.File)
	assert.Equal(t, 2, te.Line)
}

// TestBuiltinsInlinedAtParseTime: every built-in mail renders into an
// already-inlined template (TestBuiltinGolden checks the output against
// the golden files, which were made by inlining each rendered document).
func TestBuiltinsInlinedAtParseTime(t *testing.T) {
	set, err := Parse(FS, nil)
	require.NoError(t, err)
	for name, m := range set.mails {
		for loc, v := range m.variants {
			assert.NotNil(t, v.source, "%s %s falls back to inlining at render time", name, loc)
		}
	}
}
