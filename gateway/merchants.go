package gateway

import (
	"context"
	"sync"
	"time"
)

// merchantCacheTTL bounds how long a merchant's MCC and name (fields 18 and 43 upstream) are
// reused before the registry is read again: an operator's change reaches upstream requests
// within it.
const merchantCacheTTL = time.Minute

// merchantInfo is what upstream requests carry of a merchant.
type merchantInfo struct {
	mcc, name []byte
	at        time.Time
}

// merchantCache keeps merchantInfo by MID, so a purchase does not read and copy the merchant
// from the registry each time.
type merchantCache struct {
	ttl time.Duration
	m   sync.Map // MID → *merchantInfo
}

// merchant returns the MCC and name of mid (nil, nil when the registry has no such merchant).
func (p *Processor) merchant(ctx context.Context, mid string, now time.Time) (mcc, name []byte) {
	if v, ok := p.mers.m.Load(mid); ok {
		if mi := v.(*merchantInfo); now.Sub(mi.at) < p.mers.ttl {
			return mi.mcc, mi.name
		}
	}
	mer, err := p.d.Registry.GetMerchant(ctx, mid)
	if err != nil {
		return nil, nil
	}
	mi := &merchantInfo{mcc: []byte(mer.MCC), name: []byte(mer.Name), at: now}
	p.mers.m.Store(mid, mi)
	return mi.mcc, mi.name
}
