package templates_test

import (
	"fmt"
	"log"
	"testing/fstest"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/templates"
)

// A set with a shared layout and a mail in two locales. In a program the
// files come from an embed.FS made with //go:embed all:emails: without
// all:, Go leaves out the files starting with "_", such as the layout.
func ExampleSet() {
	emails := fstest.MapFS{
		"emails/_layout.html.tmpl":        {Data: []byte(`{{define "layout"}}<html lang="{{locale}}"><body>{{block "body" .}}{{end}}</body></html>{{end}}`)},
		"emails/reset.en.subject.tmpl":    {Data: []byte(`Reset your {{.Product}} password`)},
		"emails/reset.en.html.tmpl":       {Data: []byte(`{{define "body"}}<p>Hi {{.Name}}, <a href="{{.URL}}">reset your password</a>.</p>{{end}}{{template "layout" .}}`)},
		"emails/reset.zh-CN.subject.tmpl": {Data: []byte(`重置您的{{.Product}}密码`)},
		"emails/reset.zh-CN.html.tmpl":    {Data: []byte(`{{define "body"}}<p>{{.Name}}，您好：<a href="{{.URL}}">重置密码</a>。</p>{{end}}{{template "layout" .}}`)},
	}
	// Parse once, when the program starts; the set is safe for concurrent use.
	set, err := templates.Parse(emails, nil)
	if err != nil {
		log.Fatal(err)
	}

	data := map[string]string{"Product": "Acme", "Name": "<Bob>", "URL": "https://example.com/reset?t=abc"}
	for _, locale := range []string{"zh-CN", "en-GB", "fr"} {
		r, err := set.Render("reset", locale, data)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s → %s: %s\n", locale, r.Locale, r.Subject)
	}

	// Or straight into a message: From and To are the caller's.
	msg, err := mailer.NewMessage().From("Acme <noreply@example.com>").To("bob@example.com").
		Template(set, "reset", "en", data).Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.HTML())
	fmt.Print(msg.Text())
	// Output:
	// zh-CN → zh-CN: 重置您的Acme密码
	// en-GB → en: Reset your Acme password
	// fr → en: Reset your Acme password
	// <html lang="en"><body><p>Hi &lt;Bob&gt;, <a href="https://example.com/reset?t=abc">reset your password</a>.</p></body></html>
	// Hi <Bob>, reset your password (https://example.com/reset?t=abc).
}
