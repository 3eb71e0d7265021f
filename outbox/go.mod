module github.com/postkit/mailer/outbox

go 1.26.0

replace github.com/postkit/mailer => ../
