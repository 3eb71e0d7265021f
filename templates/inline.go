package templates

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"golang.org/x/net/html"
)

// CSS inlining at parse time.
//
// Inlining the rendered HTML of every mail (parsing the document and its
// CSS, matching every selector) costs 30 times the rendering itself. The
// CSS and the elements it selects are in the template, not in the data,
// so Parse inlines once, on a skeleton of the template:
//
//  1. The mail's HTML template is flattened into one document: each
//     {{template}} call is replaced by the called template's text, and
//     every action ({{.Name}}, {{if …}}, {{else}}, {{end}}, …) by a marker
//     that the HTML parser keeps where it is: an HTML comment between
//     elements (a comment stays in place even inside <table>, where text
//     would be moved), a private-use character sequence inside an
//     attribute value or <title>.
//  2. The inliner (go-premailer) runs on that document, as it would on a
//     rendered one.
//  3. The markers are replaced by the actions again, each template call's
//     text becomes a template of its own called with the same argument,
//     and html/template parses the result, so that data is escaped for its
//     context exactly as before: the escaping guarantees do not change.
//
// Rendering then only executes the already-inlined template. Where the
// result could differ from inlining the rendered HTML, the variant keeps
// inlining at render time instead: an action inside a tag (outside an
// attribute value), in a class, id or style attribute, in a comment or in
// <style> or <script>; CSS with selectors that depend on the number or
// order of elements or on attributes (:nth-child, :first-child, +, ~,
// [attr], …), since {{range}} and {{if}} change those; a recursive
// template; anything the inliner or html/template refuses.

// Marker characters: U+E000 and U+E001 (private use) around a number.
const (
	markOpen  = "\ue000"
	markClose = "\ue001"
)

var (
	markerRe = regexp.MustCompile(`<!--` + markOpen + `(\d+)` + markClose + `-->|` + markOpen + `(\d+)` + markClose)
	// unsafeSelectorRe finds CSS selectors whose matches depend on what
	// the data adds or leaves out.
	unsafeSelectorRe = regexp.MustCompile(`:(nth-|first-|last-|only-|empty|has\(|not\()|[+~\[]`)
)

// errNotInlinable says that a variant keeps inlining at render time.
var errNotInlinable = errors.New("not inlinable at parse time")

// skeleton is a flattened HTML template with markers instead of actions.
type skeleton struct {
	t     *texttemplate.Template // the parsed sources, for the trees
	b     strings.Builder
	state htmlState
	marks []mark   // by marker number
	stack []string // templates being expanded, against recursion
}

// mark is what a marker stands for.
type mark struct {
	action string // the action's source, such as "{{.Name}}"
	call   int    // for a template call: +1 at its start, -1 at its end
	pipe   string // for a call start: the argument's source, or ""
}

// inlineHTMLTemplate returns the HTML template of one mail variant with
// its CSS inlined, parsed by html/template with funcs, or
// errNotInlinable (possibly wrapped) when it must be inlined at render
// time. sources are the variant's HTML files (partials first, the mail's
// own file last), by file name.
func inlineHTMLTemplate(name string, sources []tmplFile, funcs map[string]any) (*htmltemplate.Template, error) {
	t := texttemplate.New(name).Funcs(funcs)
	for _, f := range sources {
		if _, err := t.New(f.path).Parse(f.src); err != nil {
			return nil, errors.Join(errNotInlinable, err)
		}
	}
	sk := &skeleton{t: t}
	if err := sk.expand(name); err != nil {
		return nil, err
	}
	doc := sk.b.String()
	if indexASCIIFold(doc, "<style") < 0 {
		return nil, fmt.Errorf("%w: no <style>", errNotInlinable) // rendered as written
	}
	if err := checkCSS(doc); err != nil {
		return nil, err
	}
	inlined, err := inlineCSS(doc)
	if err != nil {
		return nil, errors.Join(errNotInlinable, err)
	}
	if err := sk.sameStructure(doc, inlined); err != nil {
		return nil, err
	}
	main, defs, err := sk.restore(inlined)
	if err != nil {
		return nil, err
	}
	h := htmltemplate.New(name).Option("missingkey=error").Funcs(funcs)
	for i, body := range defs {
		if body == nil {
			continue
		}
		if _, err := h.New(callName(i)).Parse(*body); err != nil {
			return nil, errors.Join(errNotInlinable, err)
		}
	}
	if _, err := h.Parse(main); err != nil {
		return nil, errors.Join(errNotInlinable, err)
	}
	if err := escapeNow(h); err != nil {
		return nil, errors.Join(errNotInlinable, err)
	}
	return h, nil
}

func callName(i int) string { return "_mailer_inlined_" + strconv.Itoa(i) }

// expand writes template name's tree to the skeleton.
func (sk *skeleton) expand(name string) error {
	for _, s := range sk.stack {
		if s == name {
			return fmt.Errorf("%w: template %q calls itself", errNotInlinable, name)
		}
	}
	tt := sk.t.Lookup(name)
	if tt == nil || tt.Tree == nil {
		return fmt.Errorf("%w: no template %q", errNotInlinable, name)
	}
	sk.stack = append(sk.stack, name)
	defer func() { sk.stack = sk.stack[:len(sk.stack)-1] }()
	return sk.list(tt.Tree.Root)
}

func (sk *skeleton) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := sk.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (sk *skeleton) node(n parse.Node) error {
	switch n := n.(type) {
	case *parse.TextNode:
		sk.b.Write(n.Text)
		sk.state.feed(n.Text)
		return nil
	case *parse.CommentNode:
		return nil
	case *parse.ActionNode, *parse.BreakNode, *parse.ContinueNode:
		return sk.mark(mark{action: n.String()})
	case *parse.IfNode:
		return sk.branch("if", &n.BranchNode)
	case *parse.RangeNode:
		return sk.branch("range", &n.BranchNode)
	case *parse.WithNode:
		return sk.branch("with", &n.BranchNode)
	case *parse.TemplateNode:
		pipe := ""
		if n.Pipe != nil {
			pipe = n.Pipe.String()
		}
		if err := sk.mark(mark{call: 1, pipe: pipe}); err != nil {
			return err
		}
		if err := sk.expand(n.Name); err != nil {
			return err
		}
		return sk.mark(mark{call: -1})
	}
	return fmt.Errorf("%w: unexpected %T", errNotInlinable, n)
}

func (sk *skeleton) branch(kw string, b *parse.BranchNode) error {
	if err := sk.mark(mark{action: "{{" + kw + " " + b.Pipe.String() + "}}"}); err != nil {
		return err
	}
	if err := sk.list(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		if err := sk.mark(mark{action: "{{else}}"}); err != nil {
			return err
		}
		if err := sk.list(b.ElseList); err != nil {
			return err
		}
	}
	return sk.mark(mark{action: "{{end}}"})
}

// mark writes a marker for m where the HTML parser will keep it.
func (sk *skeleton) mark(m mark) error {
	id := markOpen + strconv.Itoa(len(sk.marks)) + markClose
	switch sk.state.where() {
	case inText:
		sk.b.WriteString("<!--" + id + "-->")
	case inValue:
		sk.b.WriteString(id)
	default:
		return fmt.Errorf("%w: an action inside a tag, comment, class, id or style attribute, <style> or <script>", errNotInlinable)
	}
	sk.marks = append(sk.marks, m)
	return nil
}

// restore turns the inlined skeleton back into template source: the main
// template, and the body of every template call by its start marker's
// number (nil for the other numbers).
func (sk *skeleton) restore(inlined string) (string, []*string, error) {
	defs := make([]*string, len(sk.marks))
	type open struct {
		id int
		b  strings.Builder
	}
	stack := []*open{{id: -1}}
	seen := make([]bool, len(sk.marks))
	last := 0
	for _, loc := range markerRe.FindAllStringSubmatchIndex(inlined, -1) {
		top := stack[len(stack)-1]
		top.b.WriteString(inlined[last:loc[0]])
		last = loc[1]
		var num string
		if loc[2] >= 0 {
			num = inlined[loc[2]:loc[3]]
		} else {
			num = inlined[loc[4]:loc[5]]
		}
		id, err := strconv.Atoi(num)
		if err != nil || id >= len(sk.marks) || seen[id] {
			return "", nil, fmt.Errorf("%w: a marker was changed or repeated", errNotInlinable)
		}
		seen[id] = true
		switch m := sk.marks[id]; m.call {
		case 1:
			stack = append(stack, &open{id: id})
		case -1:
			if len(stack) < 2 {
				return "", nil, fmt.Errorf("%w: template calls out of order", errNotInlinable)
			}
			body := top.b.String()
			defs[top.id] = &body
			stack = stack[:len(stack)-1]
			call := "{{template \"" + callName(top.id) + "\""
			if p := sk.marks[top.id].pipe; p != "" {
				call += " " + p
			}
			stack[len(stack)-1].b.WriteString(call + "}}")
		default:
			top.b.WriteString(m.action)
		}
	}
	for _, ok := range seen {
		if !ok {
			return "", nil, fmt.Errorf("%w: the inliner dropped a marker", errNotInlinable)
		}
	}
	if len(stack) != 1 {
		return "", nil, fmt.Errorf("%w: template calls out of order", errNotInlinable)
	}
	stack[0].b.WriteString(inlined[last:])
	return stack[0].b.String(), defs, nil
}

// checkCSS refuses style sheets with selectors that the data can change
// the matches of.
func checkCSS(doc string) error {
	rest := doc
	for {
		i := indexASCIIFold(rest, "<style")
		if i < 0 {
			return nil
		}
		rest = rest[i:]
		j := strings.IndexByte(rest, '>')
		k := indexASCIIFold(rest, "</style")
		if j < 0 || k < j {
			return fmt.Errorf("%w: unclosed <style>", errNotInlinable)
		}
		css := rest[j+1 : k]
		rest = rest[k:]
		for _, sel := range selectors(css) {
			if unsafeSelectorRe.MatchString(sel) {
				return fmt.Errorf("%w: CSS selector %q depends on the rendered document", errNotInlinable, sel)
			}
		}
	}
}

// selectors returns the selector lists of css: the text before each "{"
// that opens a rule, at-rules left out.
func selectors(css string) []string {
	for {
		i := strings.Index(css, "/*")
		if i < 0 {
			break
		}
		j := strings.Index(css[i+2:], "*/")
		if j < 0 {
			css = css[:i]
			break
		}
		css = css[:i] + css[i+2+j+2:]
	}
	var out []string
	start := 0
	for i := 0; i < len(css); i++ {
		switch css[i] {
		case '{':
			if sel := strings.TrimSpace(css[start:i]); sel != "" && !strings.HasPrefix(sel, "@") {
				out = append(out, sel)
			}
			start = i + 1
		case '}', ';':
			start = i + 1
		}
	}
	return out
}

func indexASCIIFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// asReserialized writes html as the inliner would have written it after
// parsing it: what html/template escapes in data and the HTML parser
// normalises ("+" escaped as "&#43;", carriage returns) comes out the same
// as when the rendered document went through the inliner, so that
// inlining at parse time changes no byte of the output. Static text went
// through the inliner at parse time already.
func asReserialized(html string) string {
	if strings.Contains(html, "&#43;") {
		html = strings.ReplaceAll(html, "&#43;", "+")
	}
	if strings.IndexByte(html, '\r') >= 0 {
		html = strings.ReplaceAll(strings.ReplaceAll(html, "\r\n", "\n"), "\r", "\n")
	}
	return html
}

// token is an element boundary, a comment or a piece of text of a
// document, for sameStructure.
type token struct {
	kind html.TokenType
	data string
}

// tokens returns the start and end tags (self-closing ones as start
// tags), comments and non-blank text of doc, in order; text inside
// <style> and <script> is left out, as the inliner rewrites it.
func tokens(doc string) []token {
	z := html.NewTokenizer(strings.NewReader(doc))
	var out []token
	raw := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			out = append(out, token{html.StartTagToken, string(name)})
			raw = tt == html.StartTagToken && (string(name) == "style" || string(name) == "script")
		case html.EndTagToken:
			name, _ := z.TagName()
			out = append(out, token{tt, string(name)})
			raw = false
		case html.CommentToken:
			out = append(out, token{tt, string(z.Text())})
		case html.TextToken:
			if t := strings.TrimSpace(string(z.Text())); t != "" && !raw {
				out = append(out, token{tt, t})
			}
		}
	}
}

// sameStructure checks that the inliner changed the skeleton only in ways
// that do not depend on the data: it may add attributes and tags the HTML
// parser implies (<tbody>, a </p> left out), but only outside {{if}},
// {{range}} and {{with}}, where the data decides whether the tag is
// written once, many times or not at all; it may remove nothing but a
// <style> element whose rules it all inlined.
func (sk *skeleton) sameStructure(doc, inlined string) error {
	before, after := tokens(doc), tokens(inlined)
	depth, i := 0, 0
	for _, t := range after {
		for i < len(before) && t != before[i] && before[i].data == "style" && before[i].kind != html.CommentToken {
			i++ // a <style> whose every rule was inlined is removed
		}
		if i < len(before) && t == before[i] {
			i++
			if t.kind == html.CommentToken {
				depth += sk.depthChange(t.data)
			}
			continue
		}
		if depth > 0 {
			return fmt.Errorf("%w: the HTML parser adds <%s> inside {{if}}, {{range}} or {{with}}", errNotInlinable, t.data)
		}
	}
	for i < len(before) && before[i].data == "style" && before[i].kind != html.CommentToken {
		i++
	}
	if i < len(before) {
		return fmt.Errorf("%w: the inliner dropped %q", errNotInlinable, before[i].data)
	}
	return nil
}

// depthChange returns +1 for the marker of an {{if}}, {{range}} or
// {{with}}, -1 for that of an {{end}}, and 0 for anything else.
func (sk *skeleton) depthChange(comment string) int {
	num, ok := strings.CutPrefix(comment, markOpen)
	if !ok {
		return 0
	}
	num, ok = strings.CutSuffix(num, markClose)
	id, err := strconv.Atoi(num)
	if !ok || err != nil || id >= len(sk.marks) {
		return 0
	}
	switch a := sk.marks[id].action; {
	case strings.HasPrefix(a, "{{if "), strings.HasPrefix(a, "{{range "), strings.HasPrefix(a, "{{with "):
		return 1
	case a == "{{end}}":
		return -1
	}
	return 0
}
