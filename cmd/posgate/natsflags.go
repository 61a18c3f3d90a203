package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/posgate/posgate/internal/natsconn"
)

// envNATSPassword holds the NATS password when --nats-password-file is not given; secrets
// never come from argv.
const envNATSPassword = "POSGATE_NATS_PASSWORD"

// natsClientSettings are the NATS client settings every command that connects to NATS takes:
// TLS and one credential (docs/security.md). serve also reads them from its YAML file.
type natsClientSettings struct {
	CA           string `yaml:"nats_ca"`
	Cert         string `yaml:"nats_cert"`
	Key          string `yaml:"nats_key"`
	Creds        string `yaml:"nats_creds"`
	NKey         string `yaml:"nats_nkey"`
	User         string `yaml:"nats_user"`
	PasswordFile string `yaml:"nats_password_file"`
}

// bind registers the settings' flags on fs.
func (c *natsClientSettings) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.CA, "nats-ca", "", "CA certificate (PEM) that verifies the NATS server")
	fs.StringVar(&c.Cert, "nats-cert", "", "client certificate (PEM) for NATS servers that verify clients")
	fs.StringVar(&c.Key, "nats-key", "", "client key (PEM) of --nats-cert")
	fs.StringVar(&c.Creds, "nats-creds", "", "NATS .creds file (user JWT and nkey seed)")
	fs.StringVar(&c.NKey, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&c.User, "nats-user", "", "NATS user; the password from --nats-password-file or $"+envNATSPassword)
	fs.StringVar(&c.PasswordFile, "nats-password-file", "", "file holding the NATS password of --nats-user")
}

// merge fills each setting not given as a flag (set) from file.
func (c *natsClientSettings) merge(file natsClientSettings, set map[string]bool) {
	for _, f := range []struct {
		flag     string
		dst      *string
		fromFile string
	}{
		{"nats-ca", &c.CA, file.CA}, {"nats-cert", &c.Cert, file.Cert}, {"nats-key", &c.Key, file.Key},
		{"nats-creds", &c.Creds, file.Creds}, {"nats-nkey", &c.NKey, file.NKey}, {"nats-user", &c.User, file.User},
		{"nats-password-file", &c.PasswordFile, file.PasswordFile},
	} {
		if !set[f.flag] && f.fromFile != "" {
			*f.dst = f.fromFile
		}
	}
}

// client returns the settings as a natsconn.Config for a connection to url, reading the
// password from its file or the environment. Settings without a URL are refused: the embedded
// server needs none.
func (c *natsClientSettings) client(url string, getenv func(string) string) (natsconn.Config, error) {
	cfg := natsconn.Config{CAFile: c.CA, CertFile: c.Cert, KeyFile: c.Key, CredsFile: c.Creds, NKeyFile: c.NKey, User: c.User}
	if (cfg != (natsconn.Config{}) || c.PasswordFile != "") && url == "" {
		return cfg, errors.New("NATS TLS and credentials need --nats (the embedded server takes none)")
	}
	if cfg.User != "" {
		pw, err := natsPassword(c.PasswordFile, getenv)
		if err != nil {
			return cfg, err
		}
		cfg.Password = pw
	} else if c.PasswordFile != "" {
		return cfg, errors.New("--nats-password-file needs --nats-user")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// natsFlags is --nats with the client settings, for the commands other than serve.
type natsFlags struct {
	url *string
	natsClientSettings
}

// addNATSFlags registers --nats (with def and usage) and the client settings on fs.
func addNATSFlags(fs *flag.FlagSet, def, usage string) *natsFlags {
	f := &natsFlags{url: fs.String("nats", def, usage)}
	f.bind(fs)
	return f
}

// client returns the client settings for --nats.
func (f *natsFlags) client(getenv func(string) string) (natsconn.Config, error) {
	return f.natsClientSettings.client(*f.url, getenv)
}

// natsPassword reads the password from file (trimmed), else from $POSGATE_NATS_PASSWORD.
func natsPassword(file string, getenv func(string) string) (string, error) {
	if file == "" {
		if pw := getenv(envNATSPassword); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("--nats-user needs --nats-password-file or $%s", envNATSPassword)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--nats-password-file: %w", errors.Unwrap(err))
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", errors.New("--nats-password-file: empty")
	}
	return pw, nil
}
