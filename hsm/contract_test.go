package hsm_test

import (
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/hsmtest"
)

func TestSoftwareContract(t *testing.T) {
	hsmtest.Run(t, newModule(t))
}

func TestSoftwareContractNoCache(t *testing.T) {
	m, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK(), KeyCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	hsmtest.Run(t, m)
}
