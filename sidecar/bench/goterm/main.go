// Command goterm is the floor the sidecar benchmark measures decco's
// sidecar against: the least a Go program can do to terminate mutual TLS
// and forward the plaintext to a local port. It is a benchmark anchor, not
// a product: no reload, no logging, no limits.
//
//	goterm -cert tls.crt -key tls.key -ca ca.crt -route 127.0.0.1:8443=127.0.0.1:8080 ...
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
)

type routes []string

func (r *routes) String() string     { return strings.Join(*r, ",") }
func (r *routes) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	caFile := flag.String("ca", "", "CA that must have signed the client's certificate (PEM)")
	var rs routes
	flag.Var(&rs, "route", "listen=connect address pair (repeatable)")
	flag.Parse()
	cfg, err := serverConfig(*certFile, *keyFile, *caFile)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		listen, connect, ok := strings.Cut(r, "=")
		if !ok {
			log.Fatalf("-route %q: want listen=connect", r)
		}
		ln, err := tls.Listen("tcp", listen, cfg)
		if err != nil {
			log.Fatal(err)
		}
		go serve(ln, connect)
	}
	select {}
}

// serverConfig requires a client certificate signed by the CA. Session
// tickets are on (Go's default), as they are for the sidecar.
func serverConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}

func serve(ln net.Listener, connect string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go forward(c, connect)
	}
}

// forward copies both ways until either side is done.
func forward(c net.Conn, connect string) {
	defer c.Close()
	up, err := net.Dial("tcp", connect)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
