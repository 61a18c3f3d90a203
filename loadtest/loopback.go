package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrNotLoopback is returned by CheckLoopback for a host that is, or resolves to, an address
// outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("loadtest: target is not on loopback (pass --allow-remote to load a remote gateway)")

// CheckLoopback resolves host (a name or an address, without port) and reports whether every
// address it stands for is on loopback: 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z). An
// empty host means this machine and passes. A load test hammers its target; pointing it at
// someone else's gateway by mistake must take an explicit flag.
func CheckLoopback(ctx context.Context, host string) error {
	if host == "" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !isLoopback(a) {
			return fmt.Errorf("%w: %s", ErrNotLoopback, host)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("loadtest: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("loadtest: resolve %s: no address", host)
	}
	for _, a := range addrs {
		if !isLoopback(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrNotLoopback, host, a)
		}
	}
	return nil
}

func isLoopback(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.As4()[0] == 127
	}
	return a == netip.IPv6Loopback()
}
