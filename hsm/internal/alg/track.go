package alg

// TrackWindow returns the bounds [lo, hi) of the 8 bytes of a packed-BCD track that the terminal
// encrypts under its TDK: the 8 bytes that end one byte before the last byte of the field value.
// The track must be at least 9 bytes (17 digits).
func TrackWindow(track []byte) (lo, hi int, err error) {
	if len(track) < 9 {
		return 0, 0, ErrTrack
	}
	hi = len(track) - 1
	return hi - 8, hi, nil
}

// CheckTrackDigits reports whether every nibble of b is a digit or the separator D, as every
// nibble of the encrypted window of a clear track must be (the pad nibble lies in the last byte,
// outside the window). A wrong TDK gives random nibbles and fails this check with probability
// 1 - (11/16)^16, about 99.7%.
func CheckTrackDigits(b []byte) bool {
	for _, c := range b {
		hi, lo := c>>4, c&0x0f
		if (hi > 9 && hi != 0xd) || (lo > 9 && lo != 0xd) {
			return false
		}
	}
	return true
}
