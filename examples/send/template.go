package main

import (
	"encoding/json"
	"html/template"
	"strings"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/templates"
)

// templateJSON is what -data holds for a built-in template: the fields of
// templates.Brand and of the mail's data type, with Expires as a Go
// duration such as "10m".
type templateJSON struct {
	Product      string `json:"Product"`
	LogoURL      string `json:"LogoURL"`
	SupportEmail string `json:"SupportEmail"`
	Name         string `json:"Name"`
	Code         string `json:"Code"`
	URL          string `json:"URL"`
	Expires      string `json:"Expires"`
}

// templateData turns -template and -data into the data of a built-in
// template. Errors are *invalidError.
func templateData(name, data string) (any, error) {
	var d templateJSON
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, invalidf("-data: want a JSON object with Product, Name, Code or URL, Expires …: %v", err)
	}
	if dec.More() {
		return nil, invalidf("-data: text after the JSON object")
	}
	var expires time.Duration
	if d.Expires != "" {
		var err error
		if expires, err = time.ParseDuration(d.Expires); err != nil || expires < 0 {
			return nil, invalidf("-data: Expires %q: want a duration such as \"10m\" or \"24h\"", d.Expires)
		}
	}
	brand := templates.Brand{Product: d.Product, LogoURL: template.URL(d.LogoURL), SupportEmail: d.SupportEmail}
	var need, missing string
	var out any
	switch name {
	case templates.NameVerification:
		need, missing = "Code", d.Code
		out = templates.Verification{Brand: brand, Name: d.Name, Code: d.Code, Expires: expires}
	case templates.NameConfirmAddress:
		need, missing = "URL", d.URL
		out = templates.ConfirmAddress{Brand: brand, Name: d.Name, URL: d.URL, Expires: expires}
	case templates.NamePasswordReset:
		need, missing = "URL", d.URL
		out = templates.PasswordReset{Brand: brand, Name: d.Name, URL: d.URL, Expires: expires}
	default:
		return nil, invalidf("-template %q: the built-in templates are %s, %s and %s", name,
			templates.NameVerification, templates.NameConfirmAddress, templates.NamePasswordReset)
	}
	switch {
	case d.Product == "":
		return nil, invalidf("-data: %s needs \"Product\", the name shown as the sender", name)
	case missing == "":
		return nil, invalidf("-data: %s needs %q", name, need)
	}
	return out, nil
}

// applyTemplate renders -template with -data and -locale into b.
func applyTemplate(b *mailer.MessageBuilder, o *options) error {
	data, err := templateData(o.template, o.data)
	if err != nil {
		return err
	}
	set, err := templates.Parse(templates.FS, nil)
	if err != nil {
		return err
	}
	b.Template(set, o.template, o.locale, data)
	return nil
}
