package templates

import (
	texttemplate "text/template"
	"text/template/parse"
)

// undefinedTemplate returns the name of a template that t or a template
// associated with it calls but that is not defined, or "".
func undefinedTemplate(t *texttemplate.Template) string {
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if name := undefinedIn(t, tt.Tree.Root); name != "" {
			return name
		}
	}
	return ""
}

func undefinedIn(t *texttemplate.Template, n parse.Node) string {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if name := undefinedIn(t, c); name != "" {
				return name
			}
		}
	case *parse.TemplateNode:
		if tt := t.Lookup(n.Name); tt == nil || tt.Tree == nil {
			return n.Name
		}
	case *parse.IfNode:
		return undefinedInBranch(t, &n.BranchNode)
	case *parse.RangeNode:
		return undefinedInBranch(t, &n.BranchNode)
	case *parse.WithNode:
		return undefinedInBranch(t, &n.BranchNode)
	}
	return ""
}

func undefinedInBranch(t *texttemplate.Template, b *parse.BranchNode) string {
	if name := undefinedIn(t, b.List); name != "" {
		return name
	}
	return undefinedIn(t, b.ElseList)
}
