package html2text

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Convert derives the text/plain alternative of an HTML-only message
// with FromHTMLNode. It keeps headings, paragraphs, lists and tables and
// drops scripts, styles and the head. Before converting, the document is
// adjusted so that links read "text (url)", ordered lists are numbered,
// and "cid:" and in-page links are not shown.
func Convert(s string) (string, error) {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return "", err
	}
	prepareForText(doc)
	text, err := FromHTMLNode(doc, Options{})
	if err != nil {
		return "", err
	}
	return text, nil
}

// prepareForText rewrites n in place for html2text.
func prepareForText(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		prepareForText(c)
		c = next
	}
	if n.Type != html.ElementNode {
		return
	}
	switch n.DataAtom {
	case atom.A:
		linkAsText(n)
	case atom.Ol:
		numberItems(n)
	}
}

// linkAsText appends " (url)" after the content of link n and removes its
// href, unless the URL is the link text itself or not worth showing.
func linkAsText(n *html.Node) {
	href := ""
	for i, a := range n.Attr {
		if a.Namespace == "" && a.Key == "href" {
			href = strings.TrimSpace(a.Val)
			n.Attr = append(n.Attr[:i:i], n.Attr[i+1:]...)
			break
		}
	}
	lower := strings.ToLower(href)
	switch {
	case href == "", strings.HasPrefix(href, "#"), strings.HasPrefix(lower, "cid:"),
		strings.HasPrefix(lower, "javascript:"), strings.HasPrefix(lower, "data:"):
		return
	case strings.HasPrefix(lower, "mailto:"):
		href = href[len("mailto:"):]
	}
	switch text := strings.Join(strings.Fields(nodeText(n)), " "); text {
	case href:
	case "":
		n.AppendChild(&html.Node{Type: html.TextNode, Data: href})
	default:
		n.AppendChild(&html.Node{Type: html.TextNode, Data: " (" + href + ")"})
	}
}

// nodeText returns the text content of n.
func nodeText(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(nodeText(c))
	}
	return b.String()
}

// numberItems turns the items of ordered list n into numbered lines.
func numberItems(n *html.Node) {
	num := 1
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || c.DataAtom != atom.Li {
			continue
		}
		c.DataAtom, c.Data = atom.Div, "div"
		c.InsertBefore(&html.Node{Type: html.TextNode, Data: strconv.Itoa(num) + ". "}, c.FirstChild)
		num++
	}
}
