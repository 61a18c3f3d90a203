package loadtest

import (
	"errors"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantErr bool
	}{
		{in: "purchase=80,balance=5,void=5,refund=3,preauth=5,completion=2", want: DefaultMix},
		{in: " purchase = 1 , void=2 ", want: Mix{Purchase: 1, Void: 2}},
		{in: "PreAuth=3,completion=1,", want: Mix{PreAuth: 3, Completion: 1}},
		{in: "balance=0,purchase=1", want: Mix{Purchase: 1}},
		{in: "", wantErr: true},
		{in: "purchase=0", wantErr: true},
		{in: "purchase", wantErr: true},
		{in: "purchase=x", wantErr: true},
		{in: "purchase=-1", wantErr: true},
		{in: "purchase=1.5", wantErr: true},
		{in: "purchase=2000000", wantErr: true},
		{in: "purchase=1,purchase=2", wantErr: true},
		{in: "sale=1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMix(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrMix) {
					t.Fatalf("ParseMix(%q) = %v, %v; want an ErrMix", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			back, err := ParseMix(got.String())
			if err != nil || back != got {
				t.Errorf("round trip through %q: %v, %v", got.String(), back, err)
			}
		})
	}
}

func TestMixPick(t *testing.T) {
	m := Mix{Purchase: 3, Balance: 0, Void: 2, Completion: 1}
	var got [numKinds]int
	for r := 0; r < m.Total(); r++ {
		got[m.Pick(r)]++
	}
	for k := range m {
		if got[k] != m[k] {
			t.Errorf("%s: picked %d times over the draw range, want its weight %d", Kind(k), got[k], m[k])
		}
	}
	if m.Pick(0) != Purchase || m.Pick(3) != Void || m.Pick(5) != Completion {
		t.Errorf("ranges not in Kind order: %s %s %s", m.Pick(0), m.Pick(3), m.Pick(5))
	}
}

func TestKindString(t *testing.T) {
	for k := Kind(0); k < numKinds; k++ {
		if got, ok := kindByName(k.String()); !ok || got != k {
			t.Errorf("kindByName(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if s := Kind(99).String(); s != "kind(99)" {
		t.Errorf("Kind(99) = %q", s)
	}
}
