// Package natsembed runs a NATS server with JetStream inside the posgate process.
//
// It is the zero-setup default of `posgate serve` (data under ./data/nats) and the
// server every integration test in the project starts (see the natstest
// sub-package). The server listens on loopback only unless the configuration
// explicitly allows otherwise, because the embedded server has no authentication.
//
// Durability: by default the server is started with SyncAlways, the programmatic
// form of the server configuration `jetstream { sync_interval: always }`. With it,
// a single-replica file-backed stream fsyncs the message block before the publish
// acknowledgement is sent, so an acknowledged message survives a crash of the
// process and of the machine (page cache lost). The journal relies on this.
package natsembed
