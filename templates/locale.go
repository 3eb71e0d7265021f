package templates

import (
	"slices"
	"strings"
)

// canonicalLocale returns tag in canonical BCP 47 case, with "-" as the
// separator: "zh_cn" → "zh-CN", "ZH-hans-cn" → "zh-Hans-CN". It reports
// false for a tag that is not letters and digits in subtags of 1 to 8,
// starting with a language of 2 or 3 letters.
func canonicalLocale(tag string) (string, bool) {
	subtags := strings.FieldsFunc(tag, func(r rune) bool { return r == '-' || r == '_' })
	if len(subtags) == 0 || strings.Count(tag, "-")+strings.Count(tag, "_") != len(subtags)-1 {
		return "", false
	}
	for i, st := range subtags {
		if len(st) > 8 || !isAlnum(st) {
			return "", false
		}
		switch {
		case i == 0:
			if len(st) < 2 || len(st) > 3 || !isAlpha(st) {
				return "", false
			}
			subtags[i] = strings.ToLower(st)
		case len(st) == 2 && isAlpha(st): // region
			subtags[i] = strings.ToUpper(st)
		case len(st) == 4 && isAlpha(st): // script
			subtags[i] = strings.ToUpper(st[:1]) + strings.ToLower(st[1:])
		default:
			subtags[i] = strings.ToLower(st)
		}
	}
	return strings.Join(subtags, "-"), true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// language returns the language subtag of a canonical locale.
func language(loc string) string {
	lang, _, _ := strings.Cut(loc, "-")
	return lang
}

// script returns the script of a canonical locale: its script subtag, or
// for Chinese the one its region implies (Traditional for Taiwan, Hong
// Kong and Macao, Simplified otherwise); "" for other languages without a
// script subtag.
func script(loc string) string {
	subtags := strings.Split(loc, "-")
	for _, st := range subtags[1:] {
		if len(st) == 4 && isAlpha(st) {
			return st
		}
	}
	if subtags[0] != "zh" {
		return ""
	}
	for _, st := range subtags[1:] {
		switch st {
		case "TW", "HK", "MO":
			return "Hant"
		}
	}
	return "Hans"
}

// pickLocale chooses among the canonical locales have (sorted) the one for
// the wanted locale: the first of want, want without its last subtag and
// so on down to language and region or script ("zh-Hans-CN", "zh-Hans");
// then, when want has a script (written or, for Chinese, implied by its
// region), the first of have with the same language and script, so that
// "zh-TW" finds "zh-Hant" and "zh-HK" finds "zh-TW" rather than a
// Simplified variant; then the language alone ("zh"); then the first of
// have with the same language ("zh" finds "zh-CN"); then the same steps
// for def. It returns "" if nothing fits. An invalid or empty want counts
// as def.
func pickLocale(have []string, want, def string) string {
	for _, w := range []string{want, def} {
		loc, ok := canonicalLocale(w)
		if !ok {
			continue
		}
		lang := language(loc)
		for c := loc; c != lang; c = c[:strings.LastIndexByte(c, '-')] {
			if slices.Contains(have, c) {
				return c
			}
		}
		if sc := script(loc); sc != "" {
			for _, h := range have {
				if language(h) == lang && script(h) == sc {
					return h
				}
			}
		}
		if slices.Contains(have, lang) {
			return lang
		}
		for _, h := range have {
			if language(h) == lang {
				return h
			}
		}
	}
	return ""
}
