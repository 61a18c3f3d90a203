package hsm

import (
	"context"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// DecryptTrack implements Module. The track must be at least 9 bytes; a window that does not
// decrypt to digits and separators is ErrTrack (a wrong TDK, almost always). dst may be track
// itself (track[:0]) to decrypt in place.
func (s *Software) DecryptTrack(_ context.Context, dst []byte, tdk WrappedKey, track []byte) ([]byte, error) {
	lo, hi, err := alg.TrackWindow(track)
	if err != nil {
		return dst, err
	}
	k, err := s.key(tdk, KeyTDK)
	if err != nil {
		return dst, err
	}
	sc := alg.GetScratch()
	defer alg.PutScratch(sc)
	copy(sc[8:16], track[lo:hi])
	k.blk.Decrypt(sc[:8], sc[8:16])
	if !alg.CheckTrackDigits(sc[:8]) {
		return dst, ErrTrack
	}
	n := len(dst)
	dst = append(dst, track...)
	copy(dst[n+lo:n+hi], sc[:8])
	return dst, nil
}
