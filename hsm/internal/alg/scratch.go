package alg

import "sync"

var scratchPool = sync.Pool{New: func() any { return new(Scratch) }}

// GetScratch returns a scratch buffer from a pool; it is all zero.
func GetScratch() *Scratch { return scratchPool.Get().(*Scratch) }

// PutScratch wipes s and returns it to the pool.
func PutScratch(s *Scratch) {
	clear(s[:])
	scratchPool.Put(s)
}
