// Package natsconn turns posgate's NATS client settings — TLS (CA, client certificate) and
// credentials (user and password, an nkey seed file or a .creds file) — into nats.go options,
// one place for every command that connects to NATS (docs/security.md).
package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Config is how a client authenticates to NATS and secures the link. The zero value is a plain
// connection without credentials (the embedded default on loopback).
type Config struct {
	// CAFile verifies the server's certificate (PEM); empty uses the system roots when the URL
	// is tls:// or the server requires TLS.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (PEM) for servers that verify
	// clients (mutual TLS). Both or neither.
	CertFile, KeyFile string
	// At most one credential: CredsFile (a NATS .creds file: JWT and nkey seed), NKeyFile (an
	// nkey seed file) or User with Password.
	CredsFile string
	NKeyFile  string
	User      string
	Password  string // never logged; read from a file or the environment by the commands
}

// ErrConfig marks a bad client configuration. Its messages name settings, never values.
var ErrConfig = errors.New("natsconn: bad configuration")

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
}

// Validate checks the settings and that every file named is readable.
func (c Config) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("a client certificate needs both --nats-cert and --nats-key")
	}
	n := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return bad("give one NATS credential: --nats-creds, --nats-nkey or --nats-user")
	}
	if c.Password != "" && c.User == "" {
		return bad("a NATS password needs --nats-user")
	}
	if c.User != "" && c.Password == "" {
		return bad("--nats-user needs a password (--nats-password-file or $POSGATE_NATS_PASSWORD)")
	}
	for _, f := range []struct{ flag, path string }{
		{"--nats-ca", c.CAFile}, {"--nats-cert", c.CertFile}, {"--nats-key", c.KeyFile},
		{"--nats-creds", c.CredsFile}, {"--nats-nkey", c.NKeyFile},
	} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return bad("%s: %v", f.flag, errors.Unwrap(err))
		}
		_ = fh.Close()
	}
	return nil
}

// Secure reports whether the settings ask for TLS.
func (c Config) Secure() bool { return c.CAFile != "" || c.CertFile != "" }

// Options returns the nats.go options of the settings, after Validate.
func (c Config) Options() ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, bad("--nats-nkey: not an nkey seed file")
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	return opts, nil
}

// Connect connects to url with the settings, then extra options (name, reconnects …).
func Connect(urls string, c Config, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(urls, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("NATS %s: %w", redact(urls), err)
	}
	return nc, nil
}

// redact drops user information from a URL list for messages.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("***")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
