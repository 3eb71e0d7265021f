module github.com/postkit/mailer/gateway

go 1.26.0

replace github.com/postkit/mailer => ../
