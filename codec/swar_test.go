package codec

import "testing"

func scalarDigits(v []byte) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func FuzzSWAR(f *testing.F) {
	f.Add([]byte("0123456789"))
	f.Add([]byte("0123456789ABCDEFabcdef00"))
	f.Add([]byte("9F2608C0A057796D091E39:/@G`g"))
	f.Add([]byte{0xB0, 0xB9, '0', '1', '2', '3', '4', '5', '6'})
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := allTrack(v), scalarClass(v, FormatZ); got != want {
			t.Fatalf("allTrack(%q) = %v, want %v", v, got, want)
		}
		if got, want := allDigits(v), scalarDigits(v); got != want {
			t.Fatalf("allDigits(%q) = %v, want %v", v, got, want)
		}
		if got, want := allHex(v), scalarHex(v); got != want {
			t.Fatalf("allHex(%q) = %v, want %v", v, got, want)
		}
	})
}

func scalarHex(v []byte) bool {
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func scalarClass(v []byte, f Format) bool {
	for _, c := range v {
		if charClass[c]&(1<<f) == 0 {
			return false
		}
	}
	return true
}
