package templates

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
)

// ErrNotFound is wrapped by the [*Error] that
// [Set.Render] returns for a template name the set does not have.
var ErrNotFound = errors.New("mailer: no such template")

// Options configure [Parse]. The zero value (and nil) mean
// the defaults.
type Options struct {
	// DefaultLocale is the locale of the files whose names carry none, and
	// the last fallback of every lookup. Every mail must have a variant
	// for it. The default is "en".
	DefaultLocale string
	// Funcs are added to every template of the set, subject, text and
	// HTML alike, next to the built-in "locale" function. They are
	// called while templates render, possibly from many goroutines at
	// once, so they must be safe for concurrent use. A function whose
	// name is "locale" replaces the built-in one.
	Funcs map[string]any
	// NoInlineCSS turns off CSS inlining: rendered HTML keeps its <style>
	// elements as written. By default the rules of every <style> element
	// are copied into the style attributes of the elements they select,
	// because Gmail, QQ Mail, 163 and Outlook drop or ignore <style> in
	// some of their clients; rules that cannot be inlined (@media queries,
	// :hover) stay in a <style> element in the head, marked !important so
	// that they win over the inlined styles.
	//
	// The CSS is inlined once, into the template, when the set is parsed,
	// so rendering costs about what html/template alone costs, with the
	// same output and the same contextual escaping as inlining each
	// rendered mail. A template where the data could change what the CSS
	// selects is inlined after each render instead (slower, same result):
	// an action in a class, id or style attribute or between a tag's
	// attributes; selectors such as :nth-child, :first-child, + or ~ or
	// [attr]; an element the HTML parser adds inside {{if}}, {{range}} or
	// {{with}}, such as the <tbody> of a <table> whose rows come from
	// {{range}} (write the <tbody>).
	NoInlineCSS bool
}

// A Set holds parsed mail templates. Make one with
// [Parse] when the program starts and share it: a Set is
// immutable and safe for concurrent use, and rendering never parses a
// template again.
//
// Each mail (such as "reset") has one or more locale variants (such as
// "en" and "zh-CN"); each variant has a subject, an HTML body, a text
// body, or both bodies. Files whose names start with "_" are partials and
// layouts shared by every mail.
type Set struct {
	mails         map[string]*mailTemplate
	defaultLocale string
	inlineCSS     bool
}

// mailTemplate is one mail of a set: its variants by canonical locale.
type mailTemplate struct {
	name     string
	variants map[string]*variant
	locales  []string // sorted keys of variants
}

// variant is one mail in one locale, parsed.
type variant struct {
	name, locale string
	subject      *texttemplate.Template
	text         *texttemplate.Template // nil: derived from the HTML
	html         *htmltemplate.Template // nil: text only
	source       *htmltemplate.Template // when html has its CSS inlined already (template_inline.go): the template as written
	files        map[string]string      // part → file, for errors
}

// Template parts, as they appear in file names and errors.
const (
	partSubject = "subject"
	partText    = "text"
	partHTML    = "html"
)

// tmplFile is one file of the set, read and classified.
type tmplFile struct {
	path   string
	name   string // mail name, or partial name starting with "_"
	locale string // canonical, never ""
	part   string
	src    string
}

// Parse reads every file whose name ends in ".tmpl" in fsys and
// its subdirectories, parses them, and returns the set. Other files are
// ignored, so an embed.FS of a directory that also holds images works.
// Embed the directory with the all: prefix, which keeps the layouts and
// partials (files starting with "_") that a plain //go:embed leaves out:
//
//	//go:embed all:emails
//	var emails embed.FS
//
//	set, err := templates.Parse(emails, nil)
//
// File names have the form NAME[.LOCALE].PART.tmpl, where PART is
// "subject" (text/template), "txt" or "text" (text/template) or "html"
// (html/template, which escapes data according to its context), and
// LOCALE is a BCP 47 tag such as "en", "zh-CN" or "zh_Hans_CN". A file
// without LOCALE belongs to opts.DefaultLocale. Every variant needs a
// subject and at least one body; without a text body, the text part is
// derived from the rendered HTML. The subject is rendered on one line:
// runs of white space, line breaks included, become one space.
//
// A file whose NAME starts with "_" is a partial: its {{define}} blocks
// are available to every mail, HTML partials to HTML bodies and text
// partials to subjects and text bodies. The usual layout pattern works:
// "_layout.html.tmpl" defines "layout" with {{block "body" .}} slots, and
// "reset.en.html.tmpl" defines "body" and calls {{template "layout" .}}.
// Partials may have locale variants too; each mail variant gets the
// partial variant that fits its locale best, as [Set.Render]
// chooses.
//
// Every template has the option missingkey=error, and a function
// "locale" that returns the locale of the variant being rendered, such as
// "zh-CN", for <html lang="{{locale}}">. Parse errors, including
// html/template's escaping errors, are reported here as [*Error]
// values naming the file and line, joined with errors.Join. To run the
// escaper now rather than on the first send, Parse executes each
// HTML template once with nil data, discarding the output: a function from
// opts.Funcs may be called then, before the template stops at its first
// field.
func Parse(fsys fs.FS, opts *Options) (*Set, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	def := "en"
	if o.DefaultLocale != "" {
		var ok bool
		if def, ok = canonicalLocale(o.DefaultLocale); !ok {
			return nil, &Error{Err: fmt.Errorf("invalid DefaultLocale %q", o.DefaultLocale)}
		}
	}
	if err := checkFuncs(o.Funcs); err != nil {
		return nil, &Error{Err: err}
	}
	files, errs := readTemplateFiles(fsys, def)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Set{mails: map[string]*mailTemplate{}, defaultLocale: def, inlineCSS: !o.NoInlineCSS}

	// Group the files: partials by kind, name and locale; mails by name,
	// locale and part.
	partials := map[string]map[string]map[string]tmplFile{} // kind ("html"/"text") → name → locale → file
	mails := map[string]map[string]map[string]tmplFile{}    // name → locale → part → file
	for _, f := range files {
		if strings.HasPrefix(f.name, "_") {
			kind := partText
			if f.part == partHTML {
				kind = partHTML
			}
			if f.part == partSubject {
				errs = append(errs, &Error{File: f.path, Err: errors.New("a partial is .txt.tmpl or .html.tmpl, not .subject.tmpl")})
				continue
			}
			byName := partials[kind]
			if byName == nil {
				byName = map[string]map[string]tmplFile{}
				partials[kind] = byName
			}
			if byName[f.name] == nil {
				byName[f.name] = map[string]tmplFile{}
			}
			if prev, dup := byName[f.name][f.locale]; dup {
				errs = append(errs, duplicateFile(prev, f))
				continue
			}
			byName[f.name][f.locale] = f
			continue
		}
		if mails[f.name] == nil {
			mails[f.name] = map[string]map[string]tmplFile{}
		}
		if mails[f.name][f.locale] == nil {
			mails[f.name][f.locale] = map[string]tmplFile{}
		}
		if prev, dup := mails[f.name][f.locale][f.part]; dup {
			errs = append(errs, duplicateFile(prev, f))
			continue
		}
		mails[f.name][f.locale][f.part] = f
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, name := range slices.Sorted(maps.Keys(mails)) {
		m := &mailTemplate{name: name, variants: map[string]*variant{}}
		m.locales = slices.Sorted(maps.Keys(mails[name]))
		if pickLocale(m.locales, def, def) == "" {
			errs = append(errs, &Error{Name: name, Locale: def,
				Err: fmt.Errorf("no variant for the default locale (have %s): name a file without a locale, or set Options.DefaultLocale",
					strings.Join(m.locales, ", "))})
			continue
		}
		for _, loc := range m.locales {
			v, verrs := s.parseVariant(name, loc, mails[name][loc], partials, o.Funcs)
			errs = append(errs, verrs...)
			m.variants[loc] = v
		}
		s.mails[name] = m
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// checkFuncs reports a value of funcs that the template packages would
// refuse (they panic on it).
func checkFuncs(funcs map[string]any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Options.Funcs: %v", r)
		}
	}()
	texttemplate.New("").Funcs(funcs)
	return nil
}

func duplicateFile(prev, f tmplFile) error {
	return &Error{Name: f.name, Locale: f.locale, Part: f.part, File: f.path,
		Err: fmt.Errorf("same template as %s", prev.path)}
}

// readTemplateFiles reads and classifies the .tmpl files of fsys.
func readTemplateFiles(fsys fs.FS, def string) ([]tmplFile, []error) {
	var files []tmplFile
	var errs []error
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return nil
		}
		f, ferr := classify(p, def)
		if ferr != nil {
			errs = append(errs, ferr)
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f.src = string(data)
		files = append(files, f)
		return nil
	})
	if err != nil {
		errs = append(errs, &Error{Err: err})
	}
	if len(files) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{Err: errors.New("no .tmpl files found")})
	}
	return files, errs
}

// classify splits a file name into mail or partial name, locale and part.
func classify(p, def string) (tmplFile, error) {
	f := tmplFile{path: p, locale: def}
	fields := strings.Split(strings.TrimSuffix(path.Base(p), ".tmpl"), ".")
	bad := func(why string) (tmplFile, error) {
		return f, &Error{File: p, Err: errors.New(why + "; want NAME[.LOCALE].PART.tmpl with PART subject, txt or html")}
	}
	switch len(fields) {
	case 2:
	case 3:
		loc, ok := canonicalLocale(fields[1])
		if !ok {
			return bad(fmt.Sprintf("%q is not a locale", fields[1]))
		}
		f.locale = loc
	default:
		return bad("unexpected file name")
	}
	f.name = fields[0]
	if f.name == "" || f.name == "_" {
		return bad("empty template name")
	}
	switch part := fields[len(fields)-1]; part {
	case "subject":
		f.part = partSubject
	case "txt", "text":
		f.part = partText
	case "html":
		f.part = partHTML
	default:
		return bad(fmt.Sprintf("unknown part %q", part))
	}
	return f, nil
}

// parseVariant parses the files of one mail variant with the partials
// that fit its locale.
func (s *Set) parseVariant(name, loc string, parts map[string]tmplFile, partials map[string]map[string]map[string]tmplFile, funcs map[string]any) (*variant, []error) {
	v := &variant{name: name, locale: loc, files: map[string]string{}}
	for part, f := range parts {
		v.files[part] = f.path
	}
	var errs []error
	fail := func(part string, err error) {
		errs = append(errs, newTemplateError(name, loc, part, v.files[part], err))
	}
	if _, ok := parts[partSubject]; !ok {
		fail(partSubject, fmt.Errorf("missing %s.%s.subject.tmpl", name, loc))
	}
	if _, ok := parts[partHTML]; !ok {
		if _, ok := parts[partText]; !ok {
			fail(partHTML, fmt.Errorf("missing a body: %s.%s.html.tmpl or %s.%s.txt.tmpl", name, loc, name, loc))
		}
	}
	if len(partials) == 0 {
		// A missing template then most likely lives in a "_" file that
		// //go:embed left out.
		fail = func(part string, err error) {
			if strings.Contains(err.Error(), "no such template") || strings.Contains(err.Error(), "not defined") {
				err = fmt.Errorf("%w (%s)", err, embedHint)
			}
			errs = append(errs, newTemplateError(name, loc, part, v.files[part], err))
		}
	}
	fm := map[string]any{"locale": func() string { return loc }}
	maps.Copy(fm, funcs)

	for _, part := range []string{partSubject, partText} {
		f, ok := parts[part]
		if !ok {
			continue
		}
		t := texttemplate.New(f.path).Option("missingkey=error").Funcs(fm)
		var err error
		for _, pf := range partialsFor(partials[partText], loc, s.defaultLocale) {
			if _, err = t.New(pf.path).Parse(pf.src); err != nil {
				fail(part, err)
				break
			}
		}
		if err != nil {
			continue
		}
		if _, err := t.Parse(f.src); err != nil {
			fail(part, err)
			continue
		}
		if missing := undefinedTemplate(t); missing != "" {
			// text/template would say so only on the first render.
			fail(part, fmt.Errorf("template: %s: no such template %q", f.path, missing))
			continue
		}
		if part == partSubject {
			v.subject = t
		} else {
			v.text = t
		}
	}
	if f, ok := parts[partHTML]; ok {
		t := htmltemplate.New(f.path).Option("missingkey=error").Funcs(fm)
		var err error
		sources := append(partialsFor(partials[partHTML], loc, s.defaultLocale), f)
		for _, pf := range sources[:len(sources)-1] {
			if _, err = t.New(pf.path).Parse(pf.src); err != nil {
				fail(partHTML, err)
				break
			}
		}
		if err == nil {
			if _, err = t.Parse(f.src); err != nil {
				fail(partHTML, err)
			} else if err = escapeNow(t); err != nil {
				fail(partHTML, err)
			} else {
				v.html = t
				if s.inlineCSS {
					// Inline the CSS now rather than on every render;
					// some templates keep inlining at render time.
					if it, err := inlineHTMLTemplate(f.path, sources, fm); err == nil {
						v.html, v.source = it, t
					}
				}
			}
		}
	}
	return v, errs
}

// embedHint explains the usual cause of a missing shared template.
const embedHint = `no file starting with "_" was found: //go:embed leaves such files out of a directory unless the pattern says all:, as in //go:embed all:emails`

// partialsFor returns, for every partial name, the variant that fits loc
// best, in name order.
func partialsFor(byName map[string]map[string]tmplFile, loc, def string) []tmplFile {
	var out []tmplFile
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		locales := slices.Sorted(maps.Keys(byName[name]))
		if l := pickLocale(locales, loc, def); l != "" {
			out = append(out, byName[name][l])
		}
	}
	return out
}

// escapeNow makes html/template run its contextual escaper, which it
// otherwise does on the first Execute, so that escaping errors show at
// parse time and the first send does no parsing work. It executes t with
// nil data into io.Discard: execution errors (a nil field) are expected
// and ignored; only html/template's own errors count. Functions called
// before the first data access run once with nil arguments; a panic in
// them is caught by text/template and ignored here too.
func escapeNow(t *htmltemplate.Template) error {
	err := t.Execute(io.Discard, nil)
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		return err
	}
	return nil
}

// Names returns the names of the mails in the set, sorted; partials are
// not included.
func (s *Set) Names() []string { return slices.Sorted(maps.Keys(s.mails)) }

// Locales returns the locales for which mail name has a variant, sorted,
// or nil if the set has no such mail.
func (s *Set) Locales(name string) []string {
	if m := s.mails[name]; m != nil {
		return slices.Clone(m.locales)
	}
	return nil
}

// DefaultLocale returns the locale used when no variant fits the one asked
// for, such as "en".
func (s *Set) DefaultLocale() string { return s.defaultLocale }

// Locale returns the locale of the variant of mail name that
// [Set.Render] uses for locale, or "" if the set has no such
// mail. See Render for the fallback rules.
func (s *Set) Locale(name, locale string) string {
	m := s.mails[name]
	if m == nil {
		return ""
	}
	return pickLocale(m.locales, locale, s.defaultLocale)
}
