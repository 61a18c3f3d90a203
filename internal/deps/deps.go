//go:build tools

// Package deps pins the modules the project depends on while parts are under construction.
package deps

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/zap"
	_ "gopkg.in/yaml.v3"
)
