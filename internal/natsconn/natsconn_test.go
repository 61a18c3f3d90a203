package natsconn

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// A connection error names the server but never the password of a URL.
func TestConnectErrorHidesURLPassword(t *testing.T) {
	_, err := Connect("nats://admin:hunter2@127.0.0.1:1,nats://127.0.0.1:2", Config{}, nats.NoReconnect())
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"none", Config{}, true},
		{"user and password", Config{User: "u", Password: "p"}, true},
		{"password only", Config{Password: "p"}, false},
		{"user only", Config{User: "u"}, false},
		{"certificate without key", Config{CertFile: "natsconn.go"}, false},
		{"two credentials", Config{User: "u", Password: "p", NKeyFile: "natsconn.go"}, false},
		{"missing file", Config{CAFile: "no-such.pem"}, false},
	} {
		err := c.cfg.Validate()
		if (err == nil) != c.ok || (err != nil && strings.Contains(err.Error(), "p\"")) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
