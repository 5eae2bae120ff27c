module github.com/mailsync/mailsync

go 1.26.0

require (
	github.com/Azure/go-ntlmssp v0.1.1
	github.com/beevik/etree v1.8.1
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sync v0.24.0
)

require golang.org/x/sys v0.45.0 // indirect
